// The serving view's arithmetic and Pareto frontier, and the charts rendered to SVG by vega, on
// lines a real CPU sweep wrote (test/fixtures/views/new.jsonl: bs 1,4,8 × in 32,64, out 8).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/base/errors.js';
import { readJsonl, type RunPoint } from '../../lib/views/read-jsonl.js';
import { DERIVED_NOTE, formatServing, servingView } from '../../lib/views/serving.js';
import { renderReport, writePlots } from '../../lib/views/plot.js';
import { runCli } from './cli-helpers.js';

const fixture = (name: string) => path.resolve(import.meta.dirname, '../fixtures/views', name);
const points = readJsonl(fixture('new.jsonl'));
const tmp = () => mkdtempSync(path.join(tmpdir(), 'gpubench-plot-'));

describe('servingView', () => {
  it("maps a point's passes onto TTFT, TPOT, ITL and E2E", () => {
    const v = servingView(points);
    expect(v.points).toHaveLength(6);
    const p = points.find((q) => q.batch_size === 4 && q.input_len === 64)!;
    const s = v.points.find((q) => q.batchSize === 4 && q.inputLen === 64)!;
    expect(s.ttftMs).toBe(p.prefill_ms);
    expect(s.tpotMs).toBe(p.decode_mean_ms);
    expect([s.itlMeanMs, s.itlMedianMs, s.itlP90Ms]).toEqual([p.decode_mean_ms, p.decode_median_ms, p.decode_p90_ms]);
    expect(s.e2eMs).toBeCloseTo(p.prefill_ms! + 7 * p.decode_mean_ms!, 9);
    expect(s.tokPerSPerGpu).toBe(p.median_decode_throughput);
    expect(s.tokPerSPerUser).toBeCloseTo(p.median_decode_throughput! / 4, 9);
  });

  it('divides TPOT by the tokens an MTP step emits', () => {
    const mtp = points.map((p) => ({ ...p, mtp_drafts: 2, mtp_accept: 'all', accepted_per_step: 3 }));
    const s = servingView(mtp).points[0]!;
    expect(s.tpotMs).toBeCloseTo(s.itlMeanMs / 3, 12);
  });

  it('keeps on the frontier exactly the points no other point of the workload beats on both axes', () => {
    const mk = (batch: number, perGpu: number, perUser: number): RunPoint => ({
      ...points[0]!, batch_size: batch, median_decode_throughput: perGpu, decode_mean_ms: 1000 / perUser,
    });
    // bs 2 has more per-GPU throughput than bs 1 but less per user: both on the frontier; bs 4 is dominated by bs 8.
    const v = servingView([mk(1, 100, 100), mk(2, 150, 75), mk(4, 160, 40), mk(8, 400, 50)]);
    expect(v.points.map((s) => [s.batchSize, s.pareto])).toEqual([[1, true], [2, true], [4, false], [8, true]]);
  });

  it('says it is derived from forward passes', () => {
    expect(formatServing(servingView(points))).toContain(DERIVED_NOTE);
    expect(DERIVED_NOTE).toMatch(/not from a server under load/);
  });

  it('gpubench serving prints the table', async () => {
    const r = await runCli(['serving', fixture('new.jsonl')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ TTFT\(ms\) │ TPOT\(ms\) │ ITL mean\(ms\) │/);
    expect(r.stdout.match(/^│ tiny-llama/gm)).toHaveLength(6);
  });
});

describe('plot', () => {
  it('renders every chart with data to SVG with marks, and omits telemetry with a reason', async () => {
    const r = await renderReport(points);
    expect(r.charts.map((c) => c.name)).toEqual(['step-time', 'throughput', 'ratio-heatmap', 'ops', 'pareto']);
    for (const c of r.charts) expect(c.svg).toMatch(/^<svg[^>]*>.*<path/s);
    // One rect per grid cell and phase in the heat map, labelled with its point's ratio.
    const cells = r.charts[2]!.svg.match(/aria-label="batch size: \d+; input length: \d+; ratio: [\d.]+" role="graphics-symbol" aria-roledescription="rect mark"/g);
    expect(cells).toHaveLength(12);
    const p = points.find((q) => q.batch_size === 8 && q.input_len === 64)!;
    expect(r.charts[2]!.svg).toContain(`batch size: 8; input length: 64; ratio: ${String(p.decode_ratio).slice(0, 8)}`);
    expect(r.omitted).toEqual([{ name: 'telemetry', title: 'Device telemetry over time', reason: expect.stringMatching(/no telemetry/) }]);
  });

  it('draws telemetry when the points carry samples, and omits the op bars without a profile', async () => {
    const sample = (t: number) => ({ t_ms: t, sm_clock_mhz: 1980 - t, mem_clock_mhz: 2619, power_w: 300 + t, temp_c: 50, mem_used_bytes: 1e9 });
    const withTelemetry = points.map((p) => ({ ...p, telemetry: [sample(0), sample(10), sample(20)], decode_op_names: null, prefill_op_names: null }));
    const r = await renderReport(withTelemetry);
    expect(r.charts.map((c) => c.name)).toContain('telemetry');
    expect(r.omitted.map((o) => o.name)).toEqual(['ops']);
    expect(r.charts.find((c) => c.name === 'telemetry')!.svg).toContain('power (W)');
  });

  it('writes one self-contained HTML file, or one SVG per chart', async () => {
    const dir = tmp();
    const [html] = await writePlots(points, path.join(dir, 'report.html'));
    const text = readFileSync(html!, 'utf8');
    expect(text.match(/<svg/g)!.length).toBeGreaterThanOrEqual(5);
    expect(text).not.toMatch(/<script|<link|src="http/);
    const svgs = await writePlots(points, path.join(dir, 'run.svg'));
    expect(svgs.map((f) => path.basename(f))).toEqual(['run-step-time.svg', 'run-throughput.svg', 'run-ratio-heatmap.svg', 'run-ops.svg', 'run-pareto.svg']);
    expect(svgs.every(existsSync)).toBe(true);
  });

  it('refuses an output that is neither .html nor .svg', async () => {
    await expect(writePlots(points, path.join(tmp(), 'r.png'))).rejects.toThrow(InvalidArgumentError);
    const r = await runCli(['plot', fixture('new.jsonl'), '-o', path.join(tmp(), 'r.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^gpubench: error: --output: '.*r\.png' is not allowed \(allowed: a file name ending in \.html or \.svg\)\n$/);
  });
});
