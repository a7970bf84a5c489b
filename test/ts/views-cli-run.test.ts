// `gpubench run --format md --save-json` with the fake addon (no native build needed), and the views
// end to end: a real CPU sweep's JSONL (node dist/cli.js against the addon) through serving, plot and
// compare.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runCli } from './cli-helpers.js';
import { fakeAddon } from './fake-addon.js';

const state = vi.hoisted(() => ({ addon: undefined as unknown }));
vi.mock('../../lib/bridge/native.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/bridge/native.js')>()),
  loadAddon: () => state.addon,
}));

const root = path.resolve(import.meta.dirname, '../..');
const addonBuilt = existsSync(path.join(root, 'build/Release/gpubench.node'));
const tmp = () => mkdtempSync(path.join(tmpdir(), 'gpubench-views-run-'));
const small = ['run', '--model', 'tiny-llama', '--layers', '1', '--batch', '1,2', '--input-len', '8', '--output-len', '4', '--device', 'cpu'];

describe('gpubench run --format md --save-json (fake addon)', () => {
  it('prints markdown tables and writes the run as one JSON file', async () => {
    state.addon = fakeAddon();
    const json = path.join(tmp(), 'r.json');
    const r = await runCli([...small, '--format', 'md', '--save-json', json]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\*\*Prefill Result\*\*\n\n\| Seq Len \| Batch Size \|/);
    expect(r.stdout).toMatch(/\n\| 8 \| 2 \| 2\/2 \| 8\/4 \|/);
    const file = JSON.parse(readFileSync(json, 'utf8'));
    expect(file.run).toMatchObject({ run_name: 'tiny-llama', device: 'cpu', model: { name: 'tiny-llama', num_layers: 1 } });
    expect(file.points.map((p: { batch_size: number }) => p.batch_size)).toEqual([1, 2]);
  });

  it('refuses an unknown --format with exit 2', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...small, '--format', 'html']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("gpubench: error: --format: 'html' is not allowed (allowed: table, md)\n");
  });
});

describe.skipIf(!addonBuilt)('views of a real CPU sweep (node dist/cli.js)', () => {
  it('serving, plot and compare read what run wrote', () => {
    const dir = tmp();
    const jsonl = path.join(dir, 'r.jsonl');
    const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'dist/cli.js'), ...args], { cwd: dir, encoding: 'utf8' });
    execFileSync(process.execPath, [path.join(root, 'dist/cli.js'), ...small, '--profile', 'decode', '--save-jsonl', jsonl], { cwd: dir, stdio: 'pipe' });

    const serving = cli('serving', jsonl);
    expect(serving.status).toBe(0);
    expect(serving.stdout.match(/^│ tiny-llama +│ 8\/4 +│ [12] +│/gm)).toHaveLength(2);
    expect(serving.stdout).toContain('not from a server under load');

    const plot = cli('plot', jsonl, '-o', path.join(dir, 'report.html'));
    expect(plot.status).toBe(0);
    const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
    for (const chart of ['step-time', 'throughput', 'ratio-heatmap', 'ops', 'pareto']) expect(html).toContain(`data-chart="${chart}"`);
    expect(html).toContain('matmul.qkv');

    const same = cli('compare', jsonl, jsonl);
    expect(same.status).toBe(0);
    expect(same.stdout).toContain('no regression beyond 5% in 2 matched points');
  });
});
