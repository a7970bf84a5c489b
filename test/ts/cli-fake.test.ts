// `gpubench run` end to end in-process, with the addon replaced by the fake (test/ts/fake-addon.ts):
// outputs, files, failing points, exit codes and Ctrl-C, without a native build.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { SGLANG_FIELDS } from '../../lib/report/fields.js';
import { runCli } from './cli-helpers.js';
import { csvRows } from './csv-rows.js';
import { fakeAddon } from './fake-addon.js';

const state = vi.hoisted(() => ({ addon: undefined as unknown }));
vi.mock('../../lib/bridge/native.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/bridge/native.js')>()),
  loadAddon: () => {
    if (state.addon instanceof Error) throw state.addon;
    return state.addon;
  },
  loadedAddon: () => ({ addon: state.addon, file: 'fake.node', source: 'local build', why: 'the fake addon' }),
}));

const small = ['run', '--model', 'tiny-llama', '--layers', '1', '--input-len', '8', '--output-len', '4', '--device', 'cpu'];
const tmp = () => mkdtempSync(path.join(tmpdir(), 'gpubench-cli-fake-'));

describe('gpubench run (fake addon)', () => {
  it('prints progress, both tables, and writes JSONL and CSV as points finish', async () => {
    state.addon = fakeAddon();
    const dir = tmp();
    const jsonl = path.join(dir, 'r.jsonl');
    const csv = path.join(dir, 'r.csv');
    const r = await runCli([...small, '--batch', '1,2', '--save-jsonl', jsonl, '--save-csv', csv]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^gpubench: 2 points on cpu\n\[1\/2\] bs=1 in=8 out=4: prefill .* decode median .*\n\[2\/2\] bs=2 in=8 out=4: /);
    expect(r.stdout).toMatch(/^run tiny-llama: tiny-llama \(llama, 1 layers/);
    expect(r.stdout).toContain('Prefill Result');
    expect(r.stdout).toContain('Decode Result');
    const lines = readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(Object.keys(lines[0]).slice(0, SGLANG_FIELDS.length)).toEqual([...SGLANG_FIELDS]);
    expect(readFileSync(csv, 'utf8').trimEnd().split('\n')).toHaveLength(3);
  });

  it('runs the CPU default sweep without flags', async () => {
    state.addon = fakeAddon();
    const r = await runCli(['run']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('gpubench: 4 points on cpu');
    expect(r.stdout).toContain('tiny-llama');
    expect(r.stdout).toMatch(/│ 128 +│ 4 +│ 4\/4 +│ 128\/8 /);
  });

  it('picks the CUDA defaults where a GPU is present', async () => {
    state.addon = fakeAddon({ cuda: true });
    const r = await runCli(['run', '--layers', '1', '--mode', 'decode']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('gpubench: 3 points on cuda:0');
    expect(r.stdout).toContain('llama-3.1-8b');
    expect(r.stdout).toMatch(/│ 1024 +│ 32 +│ 32\/32 +│ 1024\/32 /);
  });

  it('a failing point prints one line and the sweep goes on', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...small, '--batch', '1,64,2', '--kv-pool-tokens', '64']);
    expect(r.code).toBe(1);
    const fails = r.stderr.split('\n').filter((l) => l.includes('failed:'));
    // Off a terminal a finished point's line ends with the ETA (lib/cli/progress.ts).
    expect(fails).toHaveLength(1);
    expect(fails[0]).toMatch(/ \(ETA \d+s\)$/);
    expect(fails[0]!.replace(/ \(ETA \d+s\)$/, '')).toBe(
      '[2/3] bs=64 in=8 out=4: failed: ERR_DOES_NOT_FIT: batch does not fit the KV cache: needs 1024 tokens, 64 tokens available; ' +
        "what helps: --kv-pool-tokens of at least 1024 (the grid's largest point needs that many)",
    );
    expect(r.stderr).toContain("gpubench: note: --kv-pool-tokens 64 is below the 1024 KV tokens the grid's largest point needs: points that need more fail\n");
    expect(r.stderr).toContain('gpubench: 1 of 3 points failed (exit 1): bs=64 in=8 out=4 (ERR_DOES_NOT_FIT)\n');
    expect(r.stdout).toContain('0/64');
    expect(r.stdout).toContain('2/2');
  });

  it('exit 1 when every point failed', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...small, '--batch', '64', '--kv-pool-tokens', '64']);
    expect(r.code).toBe(1);
  });

  it('a device this build does not have is exit 2', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...small.slice(0, -2), '--device', 'cuda']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("gpubench: error: --device: 'cuda' is not available: this build has no CUDA backend (allowed here: auto, cpu)\n");
  });

  it('Ctrl-C stops the sweep, prints what was measured and exits 130', async () => {
    state.addon = fakeAddon({ wallMs: 2 });
    const p = runCli([...small, '--batch', '1,2', '--output-len', '1000', '--mode', 'decode']);
    // Let the first point start, then interrupt.
    await new Promise((r) => setTimeout(r, 100));
    process.emit('SIGINT');
    const r = await p;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('interrupted');
    expect(r.stderr).toMatch(/gpubench: aborted after 0 of 2 points/);
  });

  it('devices lists CUDA devices, or says the build has none', async () => {
    state.addon = fakeAddon({ cuda: true });
    const r = await runCli(['devices']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^addon: fake\.node \(local build; the fake addon\)\n/);
    expect(r.stdout).toMatch(/│ cuda:0 +│ Fake H100 +│ 80\.0 +│ 79\.0 +│ 9\.0 +│ 13\.0 /);
    expect(r.stdout).toContain('NCCL (--tp/--dp over several GPUs): NCCL 2.28.3\n');
    state.addon = fakeAddon();
    const c = await runCli(['devices']);
    expect(c.stdout).toContain('This build has no CUDA backend (backends: cpu)');
  });

  it('a missing addon is exit 1 with a one-line hint (flags are still checked first)', async () => {
    state.addon = new Error('No native build was found for platform=linux arch=x64\n    loaded from: /x');
    const r = await runCli(small);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'gpubench: error: the gpubench native addon is not usable (No native build was found for platform=linux arch=x64); build it: `npm rebuild gpubench --foreground-scripts` where gpubench is a dependency, `npm run build:native` in its own checkout\n',
    );
    expect((await runCli([...small, '--mode', 'x'])).code).toBe(2);
  });

  it('a submission the addon refuses fails the point, and the next point still runs', async () => {
    const addon = fakeAddon();
    const orig = addon.Engine;
    let n = 0;
    addon.Engine = class extends orig {
      override submit(r: { id: number; inputIds: Int32Array }) {
        if (n++ === 0) throw Object.assign(new Error('token id 99999 is outside the vocabulary'), { code: 'ERR_INVALID_ARGUMENT' });
        super.submit(r);
      }
    } as typeof orig;
    state.addon = addon;
    const r = await runCli([...small, '--batch', '1,2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[1\/2\] bs=1 in=8 out=4: failed: ERR_INVALID_ARGUMENT: token id 99999/);
    expect(r.stderr).toMatch(/\[2\/2\] bs=2 in=8 out=4: prefill/);
  });

  describe('--resume', () => {
    const jsonlLines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));

    it('skips the points the JSONL holds measured, runs the rest and a failed one again; the CSV gets the new rows only', async () => {
      state.addon = fakeAddon();
      const dir = tmp();
      const jsonl = path.join(dir, 'r.jsonl');
      const csv = path.join(dir, 'r.csv');
      const files = ['--save-jsonl', jsonl, '--save-csv', csv, '--kv-pool-tokens', '64'];
      const first = await runCli([...small, '--batch', '1,64', ...files]);
      expect(jsonlLines(jsonl).map((l) => [l.batch_size, l.ok])).toEqual([[1, true], [64, false]]);

      const r = await runCli([...small, '--batch', '1,64,2', ...files, '--resume']);
      // bs=64 fails in both runs: exit 1 each time.
      expect(first.code).toBe(1);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^gpubench: skipped 1 point already in ${jsonl}; 2 points on cpu\n`));
      expect(r.stderr).toMatch(/\[1\/2\] bs=64 in=8 out=4: failed: ERR_DOES_NOT_FIT/);
      expect(r.stderr).toMatch(/\[2\/2\] bs=2 in=8 out=4: prefill/);
      expect(r.stdout).toContain(`skipped 1 point already in ${jsonl}\n`);
      expect(r.stdout).not.toMatch(/│ 8 +│ 1 +│ 1\/1 /);
      expect(jsonlLines(jsonl).map((l) => [l.batch_size, l.ok])).toEqual([[1, true], [64, false], [64, false], [2, true]]);
      const rows = csvRows(readFileSync(csv, 'utf8'));
      expect(rows.filter((cells) => cells[0] === 'run_name')).toHaveLength(1);
      expect(rows.map((cells) => cells[1])).toEqual(['batch_size', '1', '64', '64', '2']);
    });

    it('matches on the run settings: a point of another mode is not skipped', async () => {
      state.addon = fakeAddon();
      const jsonl = path.join(tmp(), 'r.jsonl');
      await runCli([...small, '--batch', '1', '--save-jsonl', jsonl]);
      const decode = await runCli([...small, '--batch', '1', '--mode', 'decode', '--save-jsonl', jsonl, '--resume']);
      expect(decode.stderr).toContain('gpubench: skipped 0 points already in');
      expect(decode.stderr).toContain('[1/1] bs=1 in=8 out=4: decode');
      const again = await runCli([...small, '--batch', '1', '--mode', 'decode', '--save-jsonl', jsonl, '--resume']);
      expect(again.code).toBe(0);
      expect(again.stdout).toBe(`skipped 1 point already in ${jsonl}; nothing left to run\n`);
      expect(jsonlLines(jsonl).map((l) => l.mode)).toEqual(['both', 'decode']);
    });

    it('prefill mode matches the output length 1 its points record', async () => {
      state.addon = fakeAddon();
      const jsonl = path.join(tmp(), 'r.jsonl');
      await runCli([...small, '--batch', '1,2', '--mode', 'prefill', '--save-jsonl', jsonl]);
      const r = await runCli([...small, '--batch', '1,2', '--mode', 'prefill', '--save-jsonl', jsonl, '--resume']);
      expect(r.stdout).toBe(`skipped 2 points already in ${jsonl}; nothing left to run\n`);
    });

    it('a missing file runs every point; a torn last line is dropped before appending', async () => {
      state.addon = fakeAddon();
      const dir = tmp();
      const jsonl = path.join(dir, 'r.jsonl');
      const fresh = await runCli([...small, '--batch', '1', '--save-jsonl', jsonl, '--resume']);
      expect(fresh.stderr).toContain('gpubench: skipped 0 points already in');
      appendFileSync(jsonl, '{"run_name":"tiny-ll');
      const r = await runCli([...small, '--batch', '1,2', '--save-jsonl', jsonl, '--resume']);
      expect(r.stderr).toContain(`gpubench: ${jsonl}: dropped a partial last line (20 bytes) left by an interrupted write\n`);
      expect(r.stderr).toContain('skipped 1 point already in');
      expect(jsonlLines(jsonl).map((l) => l.batch_size)).toEqual([1, 2]);
    });

    it('without --save-jsonl is a one-line usage error, exit 2; a bad file is exit 2 naming its line', async () => {
      state.addon = fakeAddon();
      const r = await runCli([...small, '--resume']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('gpubench: error: --resume: needs --save-jsonl <file> (the points measured before are read from it)\n');
      const dir = tmp();
      mkdirSync(dir, { recursive: true });
      const bad = path.join(dir, 'bad.jsonl');
      appendFileSync(bad, 'not json\n');
      const b = await runCli([...small, '--save-jsonl', bad, '--resume']);
      expect(b.code).toBe(2);
      expect(b.stderr).toMatch(new RegExp(`^gpubench: error: ${bad}:1: not JSON .*\n$`));
    });
  });
});
