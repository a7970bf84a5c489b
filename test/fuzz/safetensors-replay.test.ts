// Replays the safetensors fuzz corpus (test/fuzz/corpus/safetensors: one input per malformation,
// plus every input the fuzzer found a bug with) and the golden fixtures' files through the parser,
// built with AddressSanitizer and UBSan, so each past finding stays fixed without running libFuzzer.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { cmakeSourceLists } from '../../scripts/cmake-sources.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const hasGxx = spawnSync('g++', ['--version']).status === 0;
// The parser's two sources, where CMakeLists.txt lists them (core/safetensors.cc, base/json.cc).
const lists = cmakeSourceLists() as Record<string, string[]>;
const parserSources = [...lists.CORE, ...lists.BASE].filter((f) => /\/(safetensors|json)\.cc$/.test(f));

describe.skipIf(!hasGxx)('safetensors fuzz corpus replay', () => {
  it('every corpus input loads (loads_*) or is refused with a one-line weights error, under ASan and UBSan', () => {
    const exe = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-fuzz-')), 'safetensors_replay');
    const args = ['-std=c++17', '-g', '-O1', '-Wall', '-Inative', 'test/fuzz/safetensors_replay.cc', ...parserSources, '-o', exe];
    const sanitized = spawnSync('g++', ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', ...args], { cwd: root, encoding: 'utf8' });
    // A compiler without the sanitizer runtimes still replays the corpus, unsanitized.
    expect(parserSources).toHaveLength(2);
    const build = sanitized.status === 0 ? sanitized : spawnSync('g++', args, { cwd: root, encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    const fixtures = readdirSync(path.join(root, 'test/fixtures'))
      .map((d) => `test/fixtures/${d}/model.safetensors`)
      .filter((f) => existsSync(path.join(root, f))); // test/fixtures/views/ holds saved runs, no model
    const run = spawnSync(exe, ['test/fuzz/corpus/safetensors', ...fixtures], { cwd: root, encoding: 'utf8' });
    expect(run.stdout + run.stderr).not.toMatch(/FAIL|ERROR: AddressSanitizer|runtime error/);
    const corpusSize = readdirSync(path.join(root, 'test/fuzz/corpus/safetensors')).length;
    expect(run.stdout).toContain(`${corpusSize + fixtures.length} files, 0 failures`);
    expect(run.status).toBe(0);
  }, 120_000);
});
