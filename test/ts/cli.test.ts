// The gpubench command. The first part runs main() in-process and needs no addon (flag checking
// happens before the addon is loaded); the second spawns `node dist/cli.js` against the real addon
// and is skipped until build/Release/gpubench.node exists.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpus, hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { presetNames, resolveModel } from '../../lib/model/model-spec.js';
import { specHash } from '../../lib/api/provenance.js';
import { SGLANG_FIELDS } from '../../lib/report/fields.js';
import { runCli } from './cli-helpers.js';
import { csvRows } from './csv-rows.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const addonBuilt = existsSync(path.join(root, 'build/Release/gpubench.node'));

function expectUsageError(r: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^gpubench: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stdout).toBe('');
}

describe('gpubench (no addon needed)', () => {
  it('models prints the presets', async () => {
    const r = await runCli(['models']);
    expect(r.code).toBe(0);
    for (const name of presetNames()) expect(r.stdout).toContain(name);
    expect(r.stdout).toContain('8.03B');
  });

  it.each([
    [['run', '--bogus'], /unknown option '--bogus'/],
    [['run', '--batch'], /argument missing|'--batch <list>'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['run', '--batch', '1,x'], /^gpubench: error: --batch: '1,x' is not allowed \(allowed: positive integers and ranges first-last, first-last\+step or first-last\*factor, comma-separated \(e\.g\. 1,2,8-32\*2\)\)$/],
    [['run', '--input-len', '64-8+8'], /^gpubench: error: --input-len: '64-8\+8' is not allowed \(allowed: .*; a range needs first <= last, a step >= 1, a factor >= 2\)$/],
    [['run', '--batch', '0'], /--batch: '0' is not allowed/],
    [['run', '--input-len', ''], /--input-len: '' is not allowed/],
    [['run', '--mode', 'fast'], /^gpubench: error: --mode: 'fast' is not allowed \(allowed: prefill, decode, both\)$/],
    [['run', '--profile', 'yes'], /--profile: 'yes' is not allowed \(allowed: none, prefill, decode, both\)/],
    [['run', '--device', 'gpu'], /--device: 'gpu' is not allowed \(allowed: auto, cpu, cuda, cuda:N\)/],
    [['run', '--layers', '-1'], /--layers: '-1' is not allowed \(allowed: an integer >= 1\)/],
    [['run', '--seed', '1.5'], /--seed: '1.5' is not allowed/],
    [['run', '--batch-timeout-ms', '0'], /--batch-timeout-ms/],
    [['run', '--moe-routing', 'zipf:0'], /^gpubench: error: --moe-routing: 'zipf:0' is not allowed \(allowed: balanced, uniform, zipf:<s> with s > 0, real\)$/],
    [['run', '--moe-routing', 'skewed'], /^gpubench: error: --moe-routing: 'skewed' is not allowed/],
    [['run', '--mtp-drafts', '-1'], /^gpubench: error: --mtp-drafts: '-1' is not allowed \(allowed: an integer >= 0\)$/],
    [['run', '--mtp-drafts', '2', '--mtp-accept', '3'], /^gpubench: error: --mtp-accept: '3' is not allowed \(allowed: all or an integer in \[0, 2\], the --mtp-drafts\)$/],
    [['run', '--mtp-drafts', '2', '--mtp-accept', 'most'], /--mtp-accept: 'most' is not allowed/],
    [['run', '--mtp-drafts', '2', '--mtp-accept-rate', '1.5'], /^gpubench: error: --mtp-accept-rate: '1.5' is not allowed \(allowed: a number in \[0, 1\]\)$/],
    [['run', '--mtp-drafts', '2', '--mtp-accept-rate', 'x'], /--mtp-accept-rate: 'x' is not allowed/],
    [['run', '--mtp-drafts', '2', '--mtp-accept', '1', '--mtp-accept-rate', '0.5'], /--mtp-accept and --mtp-accept-rate are exclusive/],
    [['run', '--mtp-accept', 'all'], /^gpubench: error: --mtp-accept: needs --mtp-drafts K > 0 \(MTP is off\)$/],
    [['run', '--model', 'tiny-deepseek-v2', '--mtp-drafts', '1'],
      /^gpubench: error: --mtp-drafts: 1 is not allowed \(allowed: 0: tiny-deepseek-v2 \(deepseek_v2\) has no MTP layers \(num_nextn_predict_layers 0\)\)$/],
  ])('%j is a one-line usage error, exit 2', async (args, pattern) => {
    expectUsageError(await runCli(args), pattern);
  });

  it('--model nope names the presets, exit 2', async () => {
    const r = await runCli(['run', '--model', 'nope']);
    expectUsageError(r, /^gpubench: error: --model: 'nope' is not a preset/);
    for (const name of presetNames()) expect(r.stderr).toContain(name);
  });

  it('an invalid config.json is exit 2 naming the field', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-cli-'));
    const file = path.join(dir, 'config.json');
    (await import('node:fs')).writeFileSync(file, JSON.stringify({ model_type: 'bert', hidden_size: 8 }));
    expectUsageError(await runCli(['run', '--model', file]), /config field 'model_type' is "bert" \(allowed: llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3\)/);
  });

  it('--help is exit 0; a bare gpubench prints help and is exit 2', async () => {
    expect((await runCli(['--help'])).code).toBe(0);
    expect((await runCli(['run', '--help'])).code).toBe(0);
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: gpubench');
  });
});

describe.skipIf(!addonBuilt)('gpubench against the addon (node dist/cli.js)', () => {
  const cli = path.join(root, 'dist/cli.js');
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  const small = ['run', '--model', 'tiny-llama', '--layers', '1', '--input-len', '8', '--output-len', '4', '--device', 'cpu'];

  beforeAll(() => {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')]);
  }, 120_000);

  it('runs a small sweep, prints both tables and writes one JSONL line per point', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-cli-'));
    const jsonl = path.join(dir, 'out.jsonl');
    const csv = path.join(dir, 'out.csv');
    const before = Date.now();
    const r = run([...small, '--batch', '1,2', '--save-jsonl', jsonl, '--save-csv', csv, '--run-name', 'cli-test', '--seed', '7']);
    expect(r.stderr).toMatch(/\[1\/2\] bs=1 in=8 out=4: /);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Prefill Result');
    expect(r.stdout).toContain('Decode Result');
    const lines = readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.batch_size)).toEqual([1, 2]);
    for (const l of lines) {
      expect(Object.keys(l).slice(0, SGLANG_FIELDS.length)).toEqual([...SGLANG_FIELDS]);
      expect(l).toMatchObject({ run_name: 'cli-test', input_len: 8, output_len: 4, ok: true, num_layers: 1, device: 'cpu' });
      expect(l.prefill_latency).toBeGreaterThan(0);
      expect(l.median_decode_latency).toBeGreaterThan(0);
    }
    expect(readFileSync(csv, 'utf8').trimEnd().split('\n')).toHaveLength(3);
    expectProvenance(lines, csv, before);
  });

  /** Every JSONL line and CSV row carries the sweep's provenance. */
  function expectProvenance(lines: Record<string, unknown>[], csv: string, before: number): void {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    const spec = resolveModel('tiny-llama', { layers: 1 });
    for (const l of lines) {
      expect(l).toMatchObject({
        prov_version: pkg.version, prov_host: hostname(), prov_node: process.version, prov_backends: expect.arrayContaining(['cpu']),
        prov_driver: null, prov_cuda_runtime: null, prov_compute_capability: null, prov_sm_clock_mhz: null,
        prov_cpu_model: cpus()[0]!.model.trim(), prov_model_sha256: specHash(spec), seed: 7, dtype: 'f32',
      });
      expect(l.prov_commit).toMatch(/^[0-9a-f]{12}(-dirty)?$/);
      expect(l.prov_clocks_source).toMatch(/not read on the CPU/);
      expect(l.prov_cpu_threads).toBeGreaterThan(0);
      const t = Date.parse(String(l.prov_timestamp));
      expect(t).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(t).toBeLessThanOrEqual(Date.now());
      // The CPU measures its peaks at least twice, until two agree (or 5 times).
      expect(l.prov_peaks_attempts).toBeGreaterThanOrEqual(2);
      expect(l.prov_peaks_attempts).toBeLessThanOrEqual(5);
      expect(l.prov_peaks_method).toMatch(/copy of 256 MiB and 1024x1024x1024 GEMM/);
    }
    // One sweep, one provenance: the same timestamp on every line.
    expect(lines[1]!.prov_timestamp).toBe(lines[0]!.prov_timestamp);
    const [head, row] = readFileSync(csv, 'utf8').trimEnd().split('\n').map((l) => l.split(','));
    const at = (f: string) => row![head!.indexOf(f)];
    expect(at('prov_model_sha256')).toBe(specHash(spec));
    expect(at('prov_version')).toBe(pkg.version);
  }

  it('a bad flag is exit 2 with one line on stderr', () => {
    const r = run(['run', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^gpubench: error: unknown option '--bogus'/);
  });

  it('--model nope is exit 2 naming the presets', () => {
    const r = run(['run', '--model', 'nope']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('tiny-llama');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a point that does not fit prints a one-line reason; the other points are reported', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-cli-'));
    const jsonl = path.join(dir, 'out.jsonl');
    const r = run([...small, '--batch', '1,64,2', '--kv-pool-tokens', '128', '--save-jsonl', jsonl]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('gpubench: 1 of 3 points failed (exit 1): bs=64 in=8 out=4 (ERR_DOES_NOT_FIT)');
    const failLines = r.stderr.split('\n').filter((l) => l.includes('failed: ERR_DOES_NOT_FIT'));
    expect(failLines).toHaveLength(1);
    expect(failLines[0]).toMatch(/^\[2\/3\] bs=64 in=8 out=4: failed: ERR_DOES_NOT_FIT: /);
    const lines = readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.ok)).toEqual([true, false, true]);
    expect(r.stdout).toContain('0/64');
    expect(r.stdout).toContain('2/2');
  });

  it('--moe-routing pins the experts of an MoE model; the policy and expert counts are reported', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-cli-'));
    const jsonl = path.join(dir, 'out.jsonl');
    const r = run(['run', '--model', 'tiny-qwen3-moe', '--layers', '1', '--batch', '2', '--input-len', '8', '--output-len', '3',
      '--device', 'cpu', '--moe-routing', 'zipf:1.2', '--save-jsonl', jsonl]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('MoE Routing');
    expect(r.stdout).toContain('zipf:1.2');
    const [line] = readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(line.moe_routing).toBe('zipf:1.2');
    expect(line.expert_counts).toHaveLength(16);
    expect(line.expert_counts.reduce((a: number, b: number) => a + b, 0)).toBe(2 * 4); // first decode step: 2 tokens x top-4
  });

  it('--mtp-drafts drafts with the MTP layer; the acceptance and the accepted tokens per step are reported', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-cli-'));
    const jsonl = path.join(dir, 'out.jsonl');
    const r = run(['run', '--model', 'tiny-deepseek-v3', '--layers', '2', '--batch', '2', '--input-len', '8', '--output-len', '5',
      '--device', 'cpu', '--mtp-drafts', '2', '--mtp-accept-rate', '0.5', '--save-jsonl', jsonl]);
    expect(r.stderr).toMatch(/tok\/s, 2\.00 tok\/step/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Accepted/Step');
    expect(r.stdout).toContain('2/rate:0.5');
    const [line] = readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    // Each request accepts 1 of 2 drafts per step on average: 2 tokens per step.
    expect(line).toMatchObject({ mtp_drafts: 2, mtp_accept: 'rate:0.5', accepted_per_step: 2, decode_steps: 4 });
    expect(line.median_decode_throughput).toBeCloseTo((2 * 2) / line.median_decode_latency, 6);
  });

  it('SIGKILL mid-sweep leaves only whole JSONL and CSV lines; --resume measures the rest and the failed point again', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-cli-'));
    const jsonl = path.join(dir, 'out.jsonl');
    const csv = path.join(dir, 'out.csv');
    // Many small points; batch 512 cannot fit the capped pool, so the file holds a failed point early.
    const batches = [1, 512, ...Array.from({ length: 18 }, (_, i) => i + 2)];
    const args = ['run', '--model', 'tiny-llama', '--layers', '1', '--device', 'cpu', '--threads', '1', '--batch', batches.join(','),
      '--input-len', '32', '--output-len', '4', '--kv-pool-tokens', '4096', '--save-jsonl', jsonl, '--save-csv', csv];
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const lineCount = () => (existsSync(jsonl) ? readFileSync(jsonl, 'utf8').split('\n').length - 1 : 0);
    while (lineCount() < 4 && child.exitCode === null) await sleep(5);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const text = readFileSync(jsonl, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.length).toBeLessThan(batches.length);
    expect(lines.map((l) => l.batch_size)).toEqual(batches.slice(0, lines.length));
    expect(lines[1]).toMatchObject({ batch_size: 512, ok: false, error_code: 'ERR_DOES_NOT_FIT' });
    // The CSV row of a point goes first, so it may hold one row more than the JSONL.
    const rows = csvRows(readFileSync(csv, 'utf8'));
    expect(readFileSync(csv, 'utf8').endsWith('\n')).toBe(true);
    expect(rows.every((cells) => cells.length === rows[0]!.length)).toBe(true);
    expect(rows.length - 1 - lines.length).toBeGreaterThanOrEqual(0);
    expect(rows.length - 1 - lines.length).toBeLessThanOrEqual(1);

    const r = run([...args, '--resume']);
    // bs=512 fails again: exit 1.
    expect(r.status).toBe(1);
    const skipped = lines.filter((l) => l.ok).length;
    expect(r.stdout).toContain(`skipped ${skipped} points already in ${jsonl}`);
    expect(r.stderr).toMatch(/\] bs=512 in=32 out=4: failed: ERR_DOES_NOT_FIT/);
    const all = readFileSync(jsonl, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    const measured = all.filter((l) => l.ok).map((l) => l.batch_size);
    expect(measured.sort((a, b) => a - b)).toEqual(batches.filter((b) => b !== 512).sort((a, b) => a - b));
    expect(all.filter((l) => !l.ok).map((l) => l.batch_size)).toEqual([512, 512]);
    const after = csvRows(readFileSync(csv, 'utf8'));
    expect(after.filter((cells) => cells[0] === 'run_name')).toHaveLength(1);
    expect(after.length - 1).toBeGreaterThanOrEqual(all.length);
    expect(after.length - 1).toBeLessThanOrEqual(all.length + 1);
  }, 120_000);

  it('devices answers on a CPU-only build too', () => {
    const r = run(['devices']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^addon: build\/Release\/gpubench\.node \(local build; /);
    // The real addon's own answer: a version where libnccl.so.2 loads, else why it does not.
    expect(r.stdout).toMatch(/^NCCL \(--tp\/--dp over several GPUs\): (NCCL \d+\.\d+\.\d+|libnccl\.so\.2 not found|libnccl\.so\.2 lacks .*|NCCL \d+ is older than 2\.10)$/m);
  });

  it('devices lists the CPU with its model and threads', () => {
    const r = run(['devices']);
    expect(r.status).toBe(0);
    const model = cpus()[0]!.model.trim();
    expect(r.stdout).toMatch(new RegExp(`│ cpu +│ CPU \\(\\d+ threads?\\): ${model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +│`));
  });

  it('--version prints the version, the commit the addon was built from and its backends', () => {
    const r = run(['--version']);
    expect(r.status).toBe(0);
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    // Built from this checkout: the commit is known (with -dirty for uncommitted changes).
    expect(r.stdout).toMatch(new RegExp(`^gpubench ${pkg.version.replace(/\./g, '\\.')} \\(commit [0-9a-f]{12}(-dirty)?; backends cpu(, cuda)?\\)\n$`));
  });

  it('a write that fails mid-sweep (ENOSPC on /dev/full) is reported once; every point still runs and the other outputs are whole', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-cli-'));
    const csv = path.join(dir, 'out.csv');
    const r = run([...small, '--batch', '1,2', '--save-jsonl', '/dev/full', '--save-csv', csv]);
    expect(r.status).toBe(1);
    const complaints = r.stderr.split('\n').filter((l) => l.includes("--save-jsonl: cannot write '/dev/full'"));
    expect(complaints).toHaveLength(1);
    expect(complaints[0]).toMatch(/ENOSPC/);
    expect(r.stderr).toMatch(/\[1\/2\] bs=1 in=8 out=4: prefill/);
    expect(r.stderr).toMatch(/\[2\/2\] bs=2 in=8 out=4: prefill/);
    expect(r.stderr).toContain('gpubench: not saved completely: --save-jsonl');
    expect(r.stdout).toContain('2/2');
    expect(readFileSync(csv, 'utf8').trimEnd().split('\n')).toHaveLength(3);
  });
});
