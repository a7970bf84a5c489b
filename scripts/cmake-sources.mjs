#!/usr/bin/env node
// Reads the source lists of CMakeLists.txt (its set(GPUBENCH_<NAME>_SOURCES ...) blocks), so that
// binding.gyp and the tests use CMake's lists instead of their own. Needs no CMake: the node-gyp
// build it serves is the fallback for machines without one.
//   node scripts/cmake-sources.mjs BASE CPU_BACKEND   prints those lists' paths, space-separated
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every GPUBENCH_<NAME>_SOURCES list of CMakeLists.txt, by NAME, paths relative to the repository. */
export function cmakeSourceLists(text = readFileSync(join(root, 'CMakeLists.txt'), 'utf8')) {
  const lists = {};
  for (const m of text.matchAll(/^set\(GPUBENCH_(\w+)_SOURCES\s*\n([^)]*)\)/gm)) {
    lists[m[1]] = m[2].split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  }
  return lists;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const lists = cmakeSourceLists();
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !lists[n]);
  if (names.length === 0 || unknown.length > 0) {
    console.error(`cmake-sources: unknown list '${unknown[0] ?? ''}' (allowed: ${Object.keys(lists).join(', ')})`);
    process.exit(2);
  }
  console.log(names.flatMap((n) => lists[n]).join(' '));
}
