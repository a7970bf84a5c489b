// The C++ test programs (each op of the CPU backend against a naive reference; the safetensors
// loader and its errors), built with the system compiler and run; and, where nvcc exists, a
// compile of every CUDA source so a kernel that does not compile cannot land.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = mkdtempSync(path.join(tmpdir(), 'gpubench-native-'));
const ccFiles = (dir: string) => readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.cc')).map((f) => `${dir}/${f}`);
const has = (cmd: string) => spawnSync(cmd, ['--version']).status === 0;

function buildAndRun(name: string, sources: string[]) {
  const exe = path.join(out, name);
  const build = spawnSync('g++', ['-std=c++17', '-O2', '-Wall', '-Inative', ...sources, '-lpthread', '-o', exe], {
    cwd: root, encoding: 'utf8',
  });
  expect(build.status, build.stderr).toBe(0);
  const run = spawnSync(exe, [], { cwd: root, encoding: 'utf8' });
  expect(run.stdout).toMatch(/PASS/);
  expect(run.stdout + run.stderr).not.toMatch(/FAIL/);
  expect(run.status).toBe(0);
}

describe.skipIf(!has('g++'))('C++ test programs', () => {
  it('CPU backend ops against naive references', () => {
    buildAndRun('cpu_ops_test', ['test/native/cpu_ops_test.cc', ...ccFiles('native/backend/cpu')]);
  });

  it('CPU MoE ops and the pinned routing policies against naive references', () => {
    buildAndRun('moe_ops_test', ['test/native/moe_ops_test.cc', ...ccFiles('native/backend/cpu'), 'native/core/routing.cc']);
  });

  it('CPU MLA ops against naive and non-absorbed references', () => {
    buildAndRun('mla_ops_test', ['test/native/mla_ops_test.cc', ...ccFiles('native/backend/cpu')]);
  });

  it('safetensors loader: values and every error', () => {
    buildAndRun('safetensors_test', ['test/native/safetensors_test.cc', 'native/core/safetensors.cc', 'native/base/json.cc']);
  });
});

describe.skipIf(!has('nvcc'))('CUDA sources', () => {
  it('every .cu file compiles with nvcc (sm_90a)', () => {
    const r = spawnSync(process.execPath, ['scripts/compile-cuda.mjs'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 600_000);
});
