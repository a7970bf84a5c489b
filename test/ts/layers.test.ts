// The rooms of lib/ depend one way (docs/architecture.md): cli → views → report → api → bridge →
// model → base (report formats api's results, so it sits above api; api never imports it; views
// reads saved runs back and renders them, with report's tables and fields, so it sits above report,
// which never imports it). A file may import its own room and the rooms this table allows, nothing
// else; cli/ goes through the package entry (lib/index.ts, which exports the views) and the reports only. The walk reads the real sources,
// so a new import that breaks the order fails here.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const lib = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../lib');

/** Room → the rooms (or root files) its files may import besides their own room. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  'cli.ts': ['cli'],
  cli: ['index.ts', 'report'],
  'index.ts': ['api', 'bridge', 'model', 'report', 'views', 'base'],
  views: ['report', 'api', 'model', 'base'],
  report: ['api', 'model', 'base'],
  api: ['bridge', 'model', 'base'],
  bridge: ['model', 'base'],
  model: ['base'],
  base: [],
};

/** The first folder under lib/, or the file's own name for a file directly in lib/. */
function roomOf(file: string): string {
  return path.relative(lib, file).split(path.sep)[0] as string;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative module specifiers of import / export-from / dynamic import statements. */
function relativeImports(source: string): string[] {
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  return [...source.matchAll(re)].map((m) => m[1] as string);
}

/** Every import that leaves its room for one the table does not allow, as 'file → target'. */
function violations(files: readonly string[], read: (f: string) => string = (f) => readFileSync(f, 'utf8')): string[] {
  const out: string[] = [];
  for (const file of files) {
    const from = roomOf(file);
    const allowed = MAY_IMPORT[from];
    for (const spec of relativeImports(read(file))) {
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
      const to = path.relative(lib, target).startsWith('..') ? 'outside lib/' : roomOf(target);
      if (to === from) continue;
      if (!allowed || !allowed.includes(to)) out.push(`${path.relative(lib, file)} → ${path.relative(lib, target)}`);
    }
  }
  return out;
}

describe('lib/ rooms', () => {
  const files = tsFiles(lib);

  it('every file lives in a known room', () => {
    expect(files.map(roomOf).filter((r) => !(r in MAY_IMPORT))).toEqual([]);
  });

  it('imports go one way: cli → views → report → api → bridge → model → base', () => {
    expect(violations(files)).toEqual([]);
  });

  it('catches an import against the order', () => {
    const fake = { [path.join(lib, 'model/x.ts')]: "import type { Engine } from '../bridge/engine.js';\nexport {};" };
    expect(violations(Object.keys(fake), (f) => fake[f] as string)).toEqual(['model/x.ts → bridge/engine.ts']);
    const cli = { [path.join(lib, 'cli/x.ts')]: "export { sweep } from '../api/bench.js';" };
    expect(violations(Object.keys(cli), (f) => cli[f] as string)).toEqual(['cli/x.ts → api/bench.ts']);
    const report = { [path.join(lib, 'report/x.ts')]: "import { readJsonl } from '../views/read-jsonl.js';\nexport {};" };
    expect(violations(Object.keys(report), (f) => report[f] as string)).toEqual(['report/x.ts → views/read-jsonl.ts']);
  });
});
