// CMakeLists.txt is the one list of sources (binding.gyp and the tests read it through
// scripts/cmake-sources.mjs): every compiled file of native/ and of the CUDA op tests is in exactly
// one of its lists, and every listed file exists.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { cmakeSourceLists } from '../../scripts/cmake-sources.mjs';
// @ts-expect-error: a plain .mjs script without type declarations
import { root } from '../../scripts/cmake-build.mjs';

const lists = cmakeSourceLists() as Record<string, string[]>;
const listed = Object.values(lists).flat();

function compiledFiles(dir: string, pattern: RegExp): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && pattern.test(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}

describe('CMakeLists.txt source lists', () => {
  it('has the lists binding.gyp and the CUDA builds name', () => {
    expect(Object.keys(lists).sort()).toEqual(['ADDON', 'BASE', 'CORE', 'CPU_BACKEND', 'CUDA_BACKEND', 'CUDA_TEST', 'ENGINE', 'MODEL']);
  });

  it('lists every .cc and .cu of native/ and every CUDA op test exactly once', () => {
    const onDisk = [...compiledFiles('native', /\.(cc|cu)$/), ...compiledFiles('test/native', /^cuda_.*\.cu$/)].sort();
    expect([...listed].sort()).toEqual(onDisk);
  });

  it('lists only files that exist', () => {
    expect(listed.filter((f) => !existsSync(path.join(root, f)))).toEqual([]);
  });

  it('parses a list with comments and blank lines, and ignores other set() calls', () => {
    const text = 'set(GPUBENCH_X_SOURCES\n  a/b.cc\n\n  # why\n  c.cu\n)\nset(GPUBENCH_CXX_FLAGS -O3)\n';
    expect(cmakeSourceLists(text)).toEqual({ X: ['a/b.cc', 'c.cu'] });
  });
});
