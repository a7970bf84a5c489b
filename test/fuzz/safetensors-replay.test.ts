// Replays the safetensors fuzz corpus (test/fuzz/corpus/safetensors: one input per malformation,
// plus every input the fuzzer found a bug with) and the golden fixtures' files through the parser,
// built with AddressSanitizer and UBSan, so each past finding stays fixed without running libFuzzer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;
const sourcesOf = (file: string) =>
  readdirSync(path.join(root, 'native'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && readdirSync(path.join(root, 'native', d.name)).includes(file))
    .map((d) => `native/${d.name}/${file}`);

describe.skipIf(!hasGxx)('safetensors fuzz corpus replay', () => {
  it('every corpus input loads (loads_*) or is refused with a one-line weights error, under ASan and UBSan', () => {
    const exe = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-fuzz-')), 'safetensors_replay');
    const args = ['-std=c++17', '-g', '-O1', '-Wall', '-Inative', 'test/fuzz/safetensors_replay.cc', ...sourcesOf('safetensors.cc'), ...sourcesOf('json.cc'), '-o', exe];
    const sanitized = spawnSync('g++', ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', ...args], { cwd: root, encoding: 'utf8' });
    // A compiler without the sanitizer runtimes still replays the corpus, unsanitized.
    const build = sanitized.status === 0 ? sanitized : spawnSync('g++', args, { cwd: root, encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    const fixtures = readdirSync(path.join(root, 'test/fixtures')).map((d) => `test/fixtures/${d}/model.safetensors`);
    const run = spawnSync(exe, ['test/fuzz/corpus/safetensors', ...fixtures], { cwd: root, encoding: 'utf8' });
    expect(run.stdout + run.stderr).not.toMatch(/FAIL|ERROR: AddressSanitizer|runtime error/);
    const corpusSize = readdirSync(path.join(root, 'test/fuzz/corpus/safetensors')).length;
    expect(run.stdout).toContain(`${corpusSize + fixtures.length} files, 0 failures`);
    expect(run.status).toBe(0);
  }, 120_000);
});
