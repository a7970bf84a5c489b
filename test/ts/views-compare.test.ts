// Reading saved JSONL back and comparing two runs, on lines a real CPU sweep wrote
// (test/fixtures/views: base.jsonl has bs 1,4 × in 32,64; new.jsonl adds bs 8, all with --profile).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/base/errors.js';
import { parseJsonl, pointKey, readJsonl, type RunPoint } from '../../lib/views/read-jsonl.js';
import { DEFAULT_THRESHOLD_PCT, compareRuns, formatComparison } from '../../lib/views/compare.js';
import { runCli } from './cli-helpers.js';

const fixture = (name: string) => path.resolve(import.meta.dirname, '../fixtures/views', name);
const base = readJsonl(fixture('base.jsonl'));

/** base with one point's decode slowed by `factor` (step time up, tok/s down). */
function slowed(points: readonly RunPoint[], index: number, factor: number): RunPoint[] {
  return points.map((p, i) =>
    i !== index ? p : { ...p, decode_median_ms: p.decode_median_ms! * factor, median_decode_throughput: p.median_decode_throughput! / factor },
  );
}

function writeTmp(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-views-')), name);
  writeFileSync(file, text);
  return file;
}

describe('readJsonl', () => {
  it('reads every line of a real run, with the per-op times of the profiled pass', () => {
    expect(base).toHaveLength(4);
    expect(base.map(pointKey)).toContain('tiny-llama both bs=4 in=64 out=8');
    const p = base[0]!;
    expect(p.decode_op_names!.length).toBe(p.decode_op_ms!.length);
    expect(p.decode_op_names).toContain('attention');
    expect(p.telemetry).toBeNull();
  });

  it('names the file and line of a malformed line', () => {
    const good = readFileSync(fixture('base.jsonl'), 'utf8').split('\n')[0]!;
    const bad = JSON.stringify({ ...JSON.parse(good), batch_size: 'four' });
    expect(() => parseJsonl(`${good}\n${bad}\n`, 'x.jsonl')).toThrow(/^x\.jsonl:2: field batch_size: .*allowed: one JSON object per line/);
    expect(() => parseJsonl(`${good}\n\n{oops\n`, 'x.jsonl')).toThrow(/^x\.jsonl:3: not JSON/);
  });

  it('refuses an unreadable or empty file with InvalidArgumentError', () => {
    expect(() => readJsonl('/nonexistent/r.jsonl')).toThrow(InvalidArgumentError);
    expect(() => readJsonl(writeTmp('empty.jsonl', '\n'))).toThrow(/has no points/);
  });
});

describe('compareRuns', () => {
  it('finds no regression between a run and itself', () => {
    const r = compareRuns(base, base);
    expect(r.thresholdPct).toBe(DEFAULT_THRESHOLD_PCT);
    expect(r.points).toHaveLength(4);
    expect(r.regressions).toBe(0);
    expect(r.points.flatMap((p) => p.metrics.map((m) => m.changePct))).toSatisfy((c: number[]) => c.every((x) => x === 0));
  });

  it('flags a slower decode beyond the threshold, and not within it', () => {
    const next = slowed(base, 2, 1.1);
    const r = compareRuns(base, next);
    expect(r.regressions).toBe(1);
    const hit = r.points.find((p) => p.regressed)!;
    expect(hit.key).toBe(pointKey(base[2]!));
    const step = hit.metrics.find((m) => m.metric === 'decode step ms (median)')!;
    expect(step.changePct).toBeCloseTo(10, 9);
    expect(hit.metrics.find((m) => m.metric === 'decode tok/s')!.changePct).toBeCloseTo(-100 / 11, 9);
    expect(hit.metrics.find((m) => m.metric === 'prefill ms')!.regressed).toBe(false);
    expect(compareRuns(base, next, { thresholdPct: 12 }).regressions).toBe(0);
    // Faster is never a regression.
    expect(compareRuns(next, base).regressions).toBe(0);
  });

  it('counts a point that ran before and fails now as a regression', () => {
    const next = base.map((p, i) => (i === 0 ? { ...p, ok: false, error_code: 'ERR_DOES_NOT_FIT' } : p));
    const r = compareRuns(base, next);
    expect(r.regressions).toBe(1);
    expect(r.points[0]!.newFailure).toBe('ERR_DOES_NOT_FIT');
  });

  it('lists the points found in one file only', () => {
    const r = compareRuns(base, readJsonl(fixture('new.jsonl')), { thresholdPct: 1000 });
    expect(r.points).toHaveLength(4);
    expect(r.onlyInBase).toEqual([]);
    expect(r.onlyInNew).toEqual(['tiny-llama both bs=8 in=32 out=8', 'tiny-llama both bs=8 in=64 out=8']);
    expect(formatComparison(r)).toContain('only in new:\n  tiny-llama both bs=8 in=32 out=8');
  });

  it('tells MoE routings apart', () => {
    const zipf = base.map((p) => ({ ...p, moe_routing: 'zipf:1.2' }));
    const r = compareRuns(base, zipf);
    expect(r.points).toHaveLength(0);
    expect(r.onlyInNew[0]).toMatch(/moe=zipf:1\.2$/);
  });

  it('refuses a negative threshold', () => {
    expect(() => compareRuns(base, base, { thresholdPct: -1 })).toThrow(InvalidArgumentError);
  });
});

describe('gpubench compare', () => {
  it('exits 0 without a regression and prints both values and the change', async () => {
    const r = await runCli(['compare', fixture('base.jsonl'), fixture('base.jsonl')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/tiny-llama both bs=1 in=32 out=8 │ decode tok\/s +│ \d+ +│ \d+ +│ \+0\.0% /);
    expect(r.stdout).toContain('no regression beyond 5% in 4 matched points');
  });

  it('exits 1 when a point regressed', async () => {
    const next = writeTmp('new.jsonl', slowed(base, 0, 1.5).map((p) => JSON.stringify(p)).join('\n'));
    const r = await runCli(['compare', fixture('base.jsonl'), next, '--threshold', '3%']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('REGRESSED');
    expect(r.stdout).toContain('1 of 4 matched points regressed beyond 3%');
  });

  it('exits 2 with one line for an unreadable file, a malformed line or a bad threshold', async () => {
    for (const [args, pattern] of [
      [[fixture('base.jsonl'), '/nonexistent.jsonl'], /\/nonexistent\.jsonl: cannot be read/],
      [[writeTmp('bad.jsonl', '{"run_name":1}\n'), fixture('base.jsonl')], /bad\.jsonl:1: field run_name/],
      [[fixture('base.jsonl'), fixture('base.jsonl'), '--threshold', 'lots'], /--threshold: 'lots' is not allowed/],
    ] as const) {
      const r = await runCli(['compare', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  });
});

describe('pointKey and the parallel layout', () => {
  const line = { model: 'm', mode: 'both' as const, batch_size: 1, input_len: 8, output_len: 2, moe_routing: null, mtp_drafts: 0, mtp_accept: null };
  it('tells layouts apart; a line without one (older files) is one rank', async () => {
    const { pointKey } = await import('../../lib/views/read-jsonl.js');
    expect(pointKey({ ...line, tp: 2, ep: 1, dp: 1 })).toBe('m both bs=1 in=8 out=2 tp=2 ep=1 dp=1');
    expect(pointKey(line)).toBe(pointKey({ ...line, tp: 1, ep: 1, dp: 1 }));
    expect(pointKey({ ...line, dp: 2 })).not.toBe(pointKey(line));
  });
});
