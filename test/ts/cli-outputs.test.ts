// Output paths and exit codes of `gpubench run` in-process with the fake addon: every path is
// checked before anything runs (exit 2 naming the flag), an engine that cannot open still leaves a
// failure line per point, and a missing weights file is a usage error.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { OutputWriters, outputProblem } from '../../lib/cli/outputs.js';
import { runCli } from './cli-helpers.js';
import { fakeAddon, refusingAddon } from './fake-addon.js';

const state = vi.hoisted(() => ({ addon: undefined as unknown }));
vi.mock('../../lib/bridge/native.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/bridge/native.js')>()),
  loadAddon: () => state.addon,
}));

const small = ['run', '--model', 'tiny-llama', '--layers', '1', '--input-len', '8', '--output-len', '4', '--device', 'cpu'];
const tmp = () => mkdtempSync(path.join(tmpdir(), 'gpubench-outputs-'));

describe('output paths are checked before the first point', () => {
  const dir = tmp();
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'x');

  it.each([
    ['--save-jsonl', dir, `--save-jsonl: '${dir}' is a directory (allowed: a file path)`],
    ['--save-csv', path.join(file, 'r.csv'), `--save-csv: '${path.join(file, 'r.csv')}' cannot be created: ${file} is a file`],
    ['--save-json', path.join(file, 'deeper', 'r.json'), `--save-json: '${path.join(file, 'deeper', 'r.json')}' cannot be created: ${file} is a file`],
  ])('%s %s is exit 2, one line naming the flag, and nothing runs', async (flag, where, message) => {
    const addon = fakeAddon();
    state.addon = addon;
    const r = await runCli([...small, '--batch', '1', flag, where]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`gpubench: error: ${message}\n`);
    expect(addon.log.engines).toHaveLength(0);
  });

  it('--out-dir is checked where traces are written (--profile), as a directory', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...small, '--batch', '1', '--profile', 'decode', '--out-dir', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`gpubench: error: --out-dir: '${file}' is a file (allowed: a directory path)\n`);
    // Without --profile nothing goes there, so it is not checked.
    expect((await runCli([...small, '--batch', '1', '--out-dir', file])).code).toBe(0);
  });

  it('a folder that refuses files is found by trying, not by access(2) (which says yes to root)', () => {
    expect(outputProblem('/proc/gpubench.jsonl', 'file')).toBe('cannot be created: /proc is not writable');
    expect(outputProblem('/proc', 'dir')).toBe('is not writable');
  });

  it('paths that can be created pass: a new file in a new folder, an existing file', () => {
    expect(outputProblem(path.join(dir, 'new', 'deeper', 'r.jsonl'), 'file')).toBeUndefined();
    expect(outputProblem(file, 'file')).toBeUndefined();
    expect(outputProblem(dir, 'dir')).toBeUndefined();
  });

  it('a missing --weights file is exit 2 before the addon loads', async () => {
    state.addon = fakeAddon();
    const missing = path.join(dir, 'none.safetensors');
    const r = await runCli([...small, '--batch', '1', '--weights', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`gpubench: error: --weights: '${missing}' does not exist (allowed: a .safetensors file or a folder of them)\n`);
  });
});

describe('no point is lost', () => {
  it('an engine that does not fit writes a failure line per point (a single-point run too), exit 1', async () => {
    state.addon = refusingAddon('weights need 16 GiB, 8 GiB free', 'ERR_OUT_OF_MEMORY');
    const jsonl = path.join(tmp(), 'r.jsonl');
    const r = await runCli([...small, '--batch', '1', '--save-jsonl', jsonl]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[1\/1\] bs=1 in=8 out=4: failed: ERR_OUT_OF_MEMORY: weights need 16 GiB, 8 GiB free/);
    const lines = readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ ok: false, batch_size: 1, error_code: 'ERR_OUT_OF_MEMORY', prov_version: null });
  });

  it('weights that do not fit: every point fails naming --layers, and the error line names it too', async () => {
    state.addon = refusingAddon('the weights do not fit on cpu: 9.0 GiB + a reserve of 0.3 GiB, 8.0 GiB free', 'ERR_DOES_NOT_FIT');
    const r = await runCli([...small, '--batch', '1']);
    expect(r.code).toBe(1);
    const advice = '; what helps: fewer layers (--layers) or a device with more memory';
    expect(r.stderr).toContain(`[1/1] bs=1 in=8 out=4: failed: ERR_DOES_NOT_FIT: the weights do not fit on cpu: 9.0 GiB + a reserve of 0.3 GiB, 8.0 GiB free${advice}\n`);
    expect(r.stderr).toContain(`gpubench: error: the weights do not fit on cpu: 9.0 GiB + a reserve of 0.3 GiB, 8.0 GiB free${advice}\n`);
  });

  it('--threads above the cores warns once', async () => {
    state.addon = fakeAddon();
    const cores = availableParallelism();
    const r = await runCli([...small, '--batch', '1,2', '--threads', String(cores + 1)]);
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('--threads'));
    expect(warnings).toEqual([`gpubench: note: --threads ${cores + 1} is more than the ${cores} cores here: workers share cores, so the times rise and vary`]);
  });
});

describe('what run prints', () => {
  it('--json: one JSON line per point on stdout, the tables on stderr', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...small, '--batch', '1,2', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { batch_size: number; ok: boolean });
    expect(lines.map((l) => [l.batch_size, l.ok])).toEqual([[1, true], [2, true]]);
    expect(r.stderr).toContain('Decode Result');
    expect(r.stderr).toMatch(/\[2\/2\] bs=2/);
  });

  it('--json --quiet: only the JSON lines; no progress and no tables', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...small, '--batch', '1,2', '--json', '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(r.stderr).toBe('');
  });

  it('run --help gives every flag a default and explains the columns per mode and the exit codes', async () => {
    const r = await runCli(['run', '--help']);
    expect(r.code).toBe(0);
    // Each flag's entry runs from its line to the next flag's (commander wraps descriptions).
    const entries = r.stdout.split(/\n(?=  -)/).filter((e) => e.startsWith('  --'));
    expect(entries.length).toBeGreaterThan(25);
    for (const e of entries) expect(e, e).toMatch(/default/);
    expect(r.stdout).toContain('cpu:   --model tiny-llama --batch 1,4 --input-len 32,128 --output-len 8');
    expect(r.stdout).toContain('cuda:  --model llama-3.1-8b --batch 1,8,32 --input-len 1024 --output-len 32');
    for (const words of ['Waiting Time(ms)', 'Decode Time(ms)    the mean decode step', 'overall_throughput', 'Exit codes: 0']) expect(r.stdout).toContain(words);
  });
});

describe('the README', () => {
  it("CLI block lists every flag of run --help", async () => {
    const readme = readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../README.md'), 'utf8');
    const block = readme.slice(readme.indexOf('## CLI')).split('```')[1]!;
    const help = (await runCli(['run', '--help'])).stdout;
    const flags = [...help.matchAll(/^ {2}(--[\w-]+)/gm)].map((m) => m[1]!);
    expect(flags.length).toBeGreaterThan(25);
    expect(flags.filter((f) => !block.includes(f))).toEqual([]);
    expect(block).toContain('--version');
  });
});

describe('OutputWriters', () => {
  it('after a flag\'s write fails it says so once and skips that flag; other flags go on', () => {
    const warnings: string[] = [];
    const w = new OutputWriters((line) => warnings.push(line));
    const done: string[] = [];
    w.write('--save-jsonl', 'r.jsonl', () => done.push('jsonl 1'));
    w.write('--save-jsonl', 'r.jsonl', () => {
      throw new Error('ENOSPC: no space left on device, write');
    });
    w.write('--save-jsonl', 'r.jsonl', () => done.push('jsonl 3'));
    w.write('--save-csv', 'r.csv', () => done.push('csv 3'));
    expect(done).toEqual(['jsonl 1', 'csv 3']);
    expect(warnings).toEqual([
      "gpubench: --save-jsonl: cannot write 'r.jsonl': ENOSPC: no space left on device, write; what was written is kept, later points are not saved to it",
    ]);
    expect(w.failures()).toEqual(['--save-jsonl']);
  });
});
