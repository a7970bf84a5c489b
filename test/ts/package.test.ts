// What the package ships: the MIT LICENSE that package.json names, and source maps whose sources are
// shipped too (lib/ is in `files`), so a stack trace or go-to-definition lands on a real file.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const built = existsSync(path.join(root, 'dist/index.js'));

/** The files `npm pack` would ship (scripts off: nothing is built or installed). */
function packed(): Set<string> {
  const npm = process.env.npm_execpath;
  const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
  const out = npm && npm.endsWith('.js')
    ? execFileSync(process.execPath, [npm, ...args], { cwd: root, encoding: 'utf8' })
    : execFileSync('npm', args, { cwd: root, encoding: 'utf8' });
  const [pkg] = JSON.parse(out) as [{ files: { path: string }[] }];
  return new Set(pkg.files.map((f) => f.path));
}

/** A source map; read again after a pause if it is half-written (cli.test.ts may be rebuilding dist/ meanwhile). */
function readMap(file: string): { sources: string[]; sourceRoot?: string } {
  for (let attempt = 0; ; attempt++) {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourceRoot?: string };
    } catch (e) {
      if (attempt === 3) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
}

describe('the package', () => {
  it('ships an MIT LICENSE, as package.json says', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { license: string; files: string[] };
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(path.join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
    expect(pkg.files).toContain('LICENSE');
  });

  it.skipIf(!built)('every shipped source map points at shipped sources', () => {
    const files = packed();
    expect(files.has('LICENSE')).toBe(true);
    const maps = [...files].filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(40);
    for (const map of maps) {
      const m = readMap(path.join(root, map));
      for (const s of m.sources) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(map), m.sourceRoot ?? '', s));
        expect(files.has(target), `${map} → ${target}`).toBe(true);
      }
    }
  });
});
