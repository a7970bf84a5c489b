// The gpubench command. The first part runs main() in-process and needs no addon (flag checking
// happens before the addon is loaded); the second spawns `node dist/cli.js` against the real addon
// and is skipped until build/Release/gpubench.node exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { presetNames } from '../../lib/model/model-spec.js';
import { SGLANG_FIELDS } from '../../lib/report/fields.js';
import { runCli } from './cli-helpers.js';

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
    const r = run([...small, '--batch', '1,2', '--save-jsonl', jsonl, '--save-csv', csv, '--run-name', 'cli-test']);
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
  });

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
    expect(r.status).toBe(0);
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

  it('devices answers on a CPU-only build too', () => {
    const r = run(['devices']);
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
});
