import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { FAKE_CPU } from './fake-addon.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendJsonl, toJsonlLine } from '../../lib/report/jsonl.js';
import { appendCsv, csvHeader, toCsvLine } from '../../lib/report/csv.js';
import { FIELDS, SGLANG_FIELDS } from '../../lib/report/fields.js';
import { formatBreakdown, formatDecodeTable, formatPrefillTable, formatRunHeader, formatTables } from '../../lib/report/table.js';
import { buildPointResult, failedPoint, type RunContext } from '../../lib/api/result.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import type { Mode, NativePointResult } from '../../lib/bridge/native.js';

const spec = resolveModel('tiny-llama');

function ctx(mode: Mode): RunContext {
  return {
    runName: 'r', spec, device: 'cpu', mode, seed: 42, peaks: { flopsPerS: 1e12, bytesPerS: 1e11 }, bytesPerElem: 4, profileDecodeSteps: 4, routing: 'balanced',
    mtpDrafts: 0, mtpAccept: 'all',
    info: { device: 'cpu', deviceName: 'Test CPU', dtype: 'f32', weightBytes: 0, kvPoolTokens: 0, kvBytesPerToken: 0, blockSize: 16, weightInitMs: 0, deviceInfo: FAKE_CPU },
    provenance: null,
  };
}

function raw(mode: Mode, steps: number, inputLen: number, batch: number): NativePointResult {
  const s = Array.from({ length: steps }, (_, i) => 1 + i * 0.1);
  return {
    waitingMs: 0.5,
    prefillMs: mode === 'decode' ? null : 8,
    decodeStepMs: mode === 'prefill' ? [] : s,
    decodeContext: mode === 'prefill' ? [] : s.map((_, i) => inputLen + i + 1),
    acceptedTokens: mode === 'prefill' ? [] : s.map(() => batch),
    firstRequestTokens: [],
    usedGraphs: false,
    profiledPrefill: [],
    profiledDecode: [],
    traceFiles: [],
    routing: 'balanced',
    expertCounts: [],
    telemetry: null,
    telemetryReason: 'no NVML: CPU device',
    kernelPaths: {}, mlaPrefillForm: null, mlaDecodeForm: null,
  };
}

const both = buildPointResult(ctx('both'), { batchSize: 2, inputLen: 16, outputLen: 4 }, raw('both', 3, 16, 2));
const decode = buildPointResult(ctx('decode'), { batchSize: 4, inputLen: 16, outputLen: 4 }, raw('decode', 4, 16, 4));
const prefill = buildPointResult(ctx('prefill'), { batchSize: 1, inputLen: 32, outputLen: 1 }, raw('prefill', 0, 32, 1), ['prefill mode: output_len forced to 1 (asked 8)']);
const failed = failedPoint(ctx('both'), { batchSize: 64, inputLen: 16, outputLen: 4 }, [], 'ERR_DOES_NOT_FIT', 'needs 1280 KV tokens,\nhas 64');

describe('JSONL', () => {
  it('starts with sglang fields, in seconds and tokens/s', () => {
    const rec = JSON.parse(toJsonlLine(both));
    expect(Object.keys(rec).slice(0, SGLANG_FIELDS.length)).toEqual([...SGLANG_FIELDS]);
    expect(Object.keys(rec)).toEqual([...FIELDS]);
    expect(rec).toMatchObject({ run_name: 'r', batch_size: 2, input_len: 16, output_len: 4, ok: true, mode: 'both', dtype: 'f32', device_name: 'Test CPU' });
    expect(rec.prefill_latency).toBeCloseTo(0.008, 12);
    expect(rec.prefill_throughput).toBeCloseTo(32 / 0.008, 6);
    expect(rec.median_decode_latency).toBeCloseTo(0.0011, 12);
    expect(rec.median_decode_throughput).toBeCloseTo(2 / 0.0011, 6);
    expect(rec.total_latency).toBeCloseTo((8 + 1 + 1.1 + 1.2) / 1000, 12);
    expect(rec.overall_throughput).toBeCloseTo((2 * 20) / rec.total_latency, 6);
    expect(rec.decode_steps).toBe(3);
    expect(rec.decode_floor_ms).toBeGreaterThan(0);
  });

  it('has null prefill fields in decode mode', () => {
    const rec = JSON.parse(toJsonlLine(decode));
    expect(rec.prefill_latency).toBeNull();
    expect(rec.prefill_throughput).toBeNull();
    expect(rec.prefill_floor_ms).toBeNull();
    expect(rec.median_decode_latency).toBeCloseTo(0.00115, 12);
    expect(rec.overall_throughput).toBeCloseTo((4 * 4) / rec.total_latency, 6);
  });

  it('has null decode fields in prefill mode, and the note', () => {
    const rec = JSON.parse(toJsonlLine(prefill));
    expect(rec.median_decode_latency).toBeNull();
    expect(rec.median_decode_throughput).toBeNull();
    expect(rec.decode_median_ms).toBeNull();
    expect(rec.output_len).toBe(1);
    expect(rec.notes).toEqual(['prefill mode: output_len forced to 1 (asked 8)']);
    expect(rec.overall_throughput).toBeCloseTo(33 / 0.008, 6);
  });

  it('records a failed point with its error and null measurements', () => {
    const rec = JSON.parse(toJsonlLine(failed));
    expect(rec).toMatchObject({ ok: false, error_code: 'ERR_DOES_NOT_FIT', batch_size: 64, prefill_latency: null, total_latency: null, overall_throughput: null });
  });

  it("carries the peaks' timed calls and the GEMM kernel of each shape; null where there are none", () => {
    const calls = { warmup: 10, count: 30, minMs: 1.5, medianMs: 1.52, maxMs: 1.6 };
    const algo = {
      m: 1, n: 6144, k: 4096, batch: 1, kernel: 'cublasLt', algoId: 66, tile: 0, stages: 0, splitK: 2, reduction: 1, swizzle: 0, custom: 3,
      innerShape: 0, clusterShape: 2, candidate: 0, candidates: 8, firstUs: 21.7, chosenUs: 21.7,
    };
    const c = ctx('decode');
    const own = { ...algo, n: 4096, kernel: 'gpubench_small_m', algoId: 0, splitK: 0, reduction: 0, custom: 0, clusterShape: 0, candidate: 8, candidates: 9 };
    const p = buildPointResult({ ...c, peaks: { ...c.peaks, copyCalls: calls, gemmCalls: { ...calls, minMs: 1.4 } } },
      { batchSize: 4, inputLen: 16, outputLen: 4 }, raw('decode', 4, 16, 4), [], [algo, own]);
    const rec = JSON.parse(toJsonlLine(p));
    expect(rec).toMatchObject({
      peak_copy_calls: 30, peak_copy_min_ms: 1.5, peak_copy_median_ms: 1.52, peak_copy_max_ms: 1.6,
      peak_gemm_calls: 30, peak_gemm_min_ms: 1.4,
      gemm_algos: [
        '1x6144x4096: algo 66 tile 0 stages 0 splitK 2 reduction 1 swizzle 0 custom 3 inner 0 cluster 2 (candidate 0 of 8)',
        '1x4096x4096: gpubench_small_m (candidate 8 of 9)',
      ],
    });
    const none = JSON.parse(toJsonlLine(decode));
    expect(none).toMatchObject({ peak_copy_calls: null, peak_gemm_max_ms: null, gemm_algos: null });
  });

  it('appends one line per point', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-jsonl-')), 'sub', 'r.jsonl');
    appendJsonl(file, both);
    appendJsonl(file, failed);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]!).ok).toBe(false);
  });
});

describe('CSV', () => {
  it('has the JSONL fields, empty cells for null, quotes where needed', () => {
    // All but the telemetry samples, a list of records (JSONL only).
    expect(csvHeader().split(',')).toEqual(FIELDS.filter((f) => f !== 'telemetry'));
    const cells = toCsvLine(decode).split(',');
    expect(cells).toHaveLength(FIELDS.length - 1);
    expect(cells[FIELDS.indexOf('prefill_latency')]).toBe('');
    expect(cells[FIELDS.indexOf('batch_size')]).toBe('4');
    const line = toCsvLine(failedPoint(ctx('both'), { batchSize: 1, inputLen: 1, outputLen: 1 }, [], 'ERR_TIMEOUT', 'a, "b"'));
    expect(line).toContain('"a, ""b"""');
  });

  it('writes the header once', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-csv-'));
    const file = path.join(dir, 'r.csv');
    appendCsv(file, both);
    appendCsv(file, decode);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toEqual([csvHeader(), toCsvLine(both), toCsvLine(decode)]);
    const empty = path.join(dir, 'empty.csv');
    writeFileSync(empty, '');
    appendCsv(empty, both);
    expect(readFileSync(empty, 'utf8').split('\n')[0]).toBe(csvHeader());
  });
});

describe('tables', () => {
  it("has RTP-LLM's decode columns, then ours", () => {
    const t = formatDecodeTable([both, decode, failed]);
    expect(t.split('\n')[0]).toBe('Decode Result');
    for (const h of ['Seq Len', 'Batch Size', 'Success/Total Req', 'Input/Output', 'Waiting Time(ms)', 'Decode Time(ms)', 'Median Step(ms)', 'Decode tok/s', 'Floor(ms)', 'Ratio', 'MBU']) {
      expect(t).toContain(h);
    }
    expect(t).toMatch(/│ 16 +│ 2 +│ 2\/2 +│ 16\/4 +│ 0\.50 +│ 1\.10 +│ 1\.10 /);
    expect(t).toMatch(/│ 16 +│ 64 +│ 0\/64 +│ 16\/4 +│ - +│ ERR_DOES_NOT_FIT/);
    // RTP-LLM's order: by sequence length, then batch size.
    expect(t.indexOf('2/2')).toBeLessThan(t.indexOf('4/4'));
    expect(t).not.toMatch(/\u001b\[/); // no colour codes
  });

  it('has a prefill table', () => {
    const t = formatPrefillTable([prefill, both]);
    expect(t.split('\n')[0]).toBe('Prefill Result');
    expect(t).toContain('Prefill Time(ms)');
    expect(t).toMatch(/│ 32 +│ 1 +│ 1\/1 +│ 32\/1 +│ 0\.50 +│ 8\.00 +│ 4000 /);
  });

  it('shows the tables that apply to the mode, and the failures', () => {
    const onlyDecode = formatTables([decode]);
    expect(onlyDecode).toContain('Decode Result');
    expect(onlyDecode).not.toContain('Prefill Result');
    const onlyPrefill = formatTables([prefill]);
    expect(onlyPrefill).toContain('Prefill Result');
    expect(onlyPrefill).not.toContain('Decode Result');
    const all = formatTables([both, failed]);
    expect(all).toContain('Prefill Result');
    expect(all).toContain('Decode Result');
    expect(all).toContain('failed: bs=64 in=16 out=4: ERR_DOES_NOT_FIT: needs 1280 KV tokens, has 64');
  });

  it('has a header line naming the model, device and peaks', () => {
    const h = formatRunHeader({ runName: 'r', model: spec, device: 'cpu', deviceName: 'Test CPU', dtype: 'f32', peaks: { flopsPerS: 1e12, bytesPerS: 1e11 } });
    expect(h).toBe('run r: tiny-llama (llama, 4 layers, 3.95M params) on cpu (Test CPU, f32); peaks 100.00 GB/s, 1.00 TFLOP/s');
  });

  it('shows the profiled breakdown per point and phase', () => {
    const r = raw('decode', 4, 16, 4);
    r.profiledDecode = [
      { op: 'matmul.qkv', layer: 0, ms: 0.3 },
      { op: 'attention', layer: 0, ms: 0.1 },
    ];
    const p = buildPointResult(ctx('decode'), { batchSize: 4, inputLen: 16, outputLen: 4 }, r);
    const t = formatBreakdown([p, failed, both]);
    expect(t.split('\n')[0]).toBe('Profiled decode ops: bs=4 in=16 out=4');
    expect(t).toMatch(/│ matmul\.qkv +│ 0\.075 +│ 75\.0% +│ 1 +│/);
    expect(formatBreakdown([both])).toBe('');
  });
});
