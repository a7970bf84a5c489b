// The C++ test programs (each op of the CPU backend against a naive reference; the safetensors
// loader and its errors), built as CMake targets in the addon's build tree and run; and, where
// nvcc exists, the CUDA compile check (scripts/compile-cuda.mjs), so a kernel that does not compile
// cannot land.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { buildDir, cmakeBuild, root } from '../../scripts/cmake-build.mjs';

const has = (cmd: string) => spawnSync(cmd, ['--version']).status === 0;

function run(name: string) {
  const r = spawnSync(path.join(buildDir(), 'native-tests', name), [], { cwd: root, encoding: 'utf8' });
  expect(r.stdout).toMatch(/PASS/);
  expect(r.stdout + r.stderr).not.toMatch(/FAIL/);
  expect(r.status).toBe(0);
}

describe.skipIf(!has('cmake'))('C++ test programs', () => {
  beforeAll(() => {
    const r = cmakeBuild('gpubench_native_tests');
    expect(r.ok, r.log).toBe(true);
  }, 600_000);

  it('CPU backend ops against naive references', () => run('cpu_ops_test'));
  it('CPU MoE ops and the pinned routing policies against naive references', () => run('moe_ops_test'));
  it('CPU MLA ops against naive and non-absorbed references', () => run('mla_ops_test'));
  it('safetensors loader: values and every error', () => run('safetensors_test'));
  it('telemetry sampler against a fake source; NVML missing gives the reason', () => run('telemetry_test'));
  it('host communicator against naive sums, in any arrival order; layouts and their errors', () => run('communicator_test'));
});

describe.skipIf(!has('nvcc'))('CUDA sources', () => {
  it('every .cu file compiles with nvcc (sm_90a)', () => {
    const r = spawnSync(process.execPath, ['scripts/compile-cuda.mjs'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 600_000);
});
