// native/ is layered, and includes point down only (docs/architecture.md):
//   addon → engine → model → core → backend → base
// Every quoted #include names a layer folder first ("core/kv_cache.h"); a file may include its own
// layer or one below it. This reads every #include of native/ and names any line that breaks that.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const layers = ['base', 'backend', 'core', 'model', 'engine', 'addon'];

interface SourceFile {
  path: string;  // relative to the repository, e.g. native/core/step.h
  text: string;
}

export function layerViolations(files: SourceFile[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const own = layers.indexOf(file.path.split('/')[1]);
    if (own < 0) {
      found.push(`${file.path}: not in a layer folder (allowed: ${layers.map((l) => `native/${l}/`).join(', ')})`);
      continue;
    }
    file.text.split('\n').forEach((line, i) => {
      const m = /^\s*#\s*include\s*"([^"]+)"/.exec(line);
      if (!m) return;
      const target = layers.indexOf(m[1].split('/')[0]);
      const where = `${file.path}:${i + 1}: ${line.trim()}`;
      if (target < 0) {
        found.push(`${where}: the path must start with a layer folder (${layers.join(', ')})`);
      } else if (target > own) {
        found.push(`${where}: ${layers[own]} may include only ${layers.slice(0, own + 1).join(', ')}`);
      }
    });
  }
  return found;
}

function nativeSources(): SourceFile[] {
  const entries = readdirSync(path.join(root, 'native'), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.(h|cc|cu|cuh)$/.test(e.name))
    .map((e) => {
      const abs = path.join(e.parentPath, e.name);
      return { path: path.relative(root, abs).split(path.sep).join('/'), text: readFileSync(abs, 'utf8') };
    });
}

describe('native/ include layering', () => {
  it('no file includes a layer above its own', () => {
    const files = nativeSources();
    expect(files.length).toBeGreaterThan(50);
    expect(layerViolations(files)).toEqual([]);
  });

  it('names the line that includes upward, an unrooted include and a file outside the layers', () => {
    const found = layerViolations([
      { path: 'native/backend/cpu/norm.cc', text: '#include "base/error.h"\n#include "core/step.h"\n' },
      { path: 'native/model/forward.cc', text: '#include "forward.h"\n' },
      { path: 'native/misc/x.h', text: '' },
    ]);
    expect(found).toEqual([
      'native/backend/cpu/norm.cc:2: #include "core/step.h": backend may include only base, backend',
      'native/model/forward.cc:1: #include "forward.h": the path must start with a layer folder (base, backend, core, model, engine, addon)',
      'native/misc/x.h: not in a layer folder (allowed: native/base/, native/backend/, native/core/, native/model/, native/engine/, native/addon/)',
    ]);
  });
});
