// Every file a comment, doc or script names by its repository path exists in the repository, and
// nothing names a file outside it (a parent folder's notes, a design document kept elsewhere).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TEXT = /\.(ts|mjs|js|cc|h|cu|cuh|md|py|txt|gyp|json)$|^CMakeLists\.txt$/;
const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => TEXT.test(path.basename(f)) && !f.startsWith('test/fixtures/') && f !== 'package-lock.json' && existsSync(path.join(root, f)));
/** Tests that make up paths on purpose (the layer checker's bad includes). */
const MADE_UP_PATHS = new Set(['test/native/layers.test.ts', 'test/ts/repo-pointers.test.ts']);

/** Repository paths a text names: lib/…, native/…, docs/…, scripts/…, test/…, bench/… with an extension. */
const REPO_PATH = /(?<![\w./-])(?:lib|native|docs|scripts|test|bench)\/[\w./-]*\w\.(?:ts|mjs|cc|h|cu|cuh|md|py)\b/g;

describe('pointers to files', () => {
  it('nothing points outside the repository', () => {
    const outside: string[] = [];
    for (const f of tracked) {
      const text = readFileSync(path.join(root, f), 'utf8');
      for (const bad of ['DESIGN.md', '../shared/', '/work/']) if (text.includes(bad) && f !== 'test/ts/repo-pointers.test.ts') outside.push(`${f}: ${bad}`);
    }
    expect(outside).toEqual([]);
  });

  it('every repository path named in a comment or doc exists', () => {
    const missing: string[] = [];
    for (const f of tracked.filter((t) => !MADE_UP_PATHS.has(t))) {
      const text = readFileSync(path.join(root, f), 'utf8');
      for (const m of text.matchAll(REPO_PATH)) {
        // A glob or a pattern (test/native/cuda_*.cu) names a family of files, not one.
        if (m[0].includes('*') || existsSync(path.join(root, m[0]))) continue;
        missing.push(`${f}: ${m[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
