// The telemetry summary (lib/api/telemetry.ts) of what the sampler returns, and how it shows in the
// JSONL, the CSV and the tables. The sampler itself is tested in test/native/telemetry_test.cc.
import { describe, expect, it } from 'vitest';
import { summarizeTelemetry, reasonNames } from '../../lib/api/telemetry.js';
import { buildPointResult, type RunContext } from '../../lib/api/result.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { toJsonlLine } from '../../lib/report/jsonl.js';
import { csvHeader, toCsvLine } from '../../lib/report/csv.js';
import { formatDecodeTable, formatPrefillTable } from '../../lib/report/table.js';
import { parseJsonl } from '../../lib/views/read-jsonl.js';
import type { NativePointResult, NativeTelemetry, NativeTelemetrySample } from '../../lib/bridge/native.js';
import { FAKE_H100 } from './fake-addon.js';

const sample = (t_ms: number, sm: number | null, power: number): NativeTelemetrySample => ({
  t_ms, sm_clock_mhz: sm, mem_clock_mhz: 2619, power_w: power, temp_c: 40 + t_ms / 10, mem_used_bytes: 8e9,
});

// 4 samples; energy 10 J before the prefill, 12.5 J after it, 20.5 J at the end (mJ counter).
const telemetry = (reasons: number): NativeTelemetry => ({
  samples: [sample(0, 1980, 300), sample(10, 1755, 650), sample(20, null, 700), sample(30, 1980, 500)],
  reasons,
  energyMj: [10_000, 12_500, 20_500],
});

describe('summarizeTelemetry', () => {
  it('min/median/max of each reading, skipping what NVML could not read', () => {
    const t = summarizeTelemetry(telemetry(0), 64, 16);
    expect(t.smClockMhz).toEqual({ min: 1755, median: 1980, max: 1980 });
    expect(t.powerW).toEqual({ min: 300, median: 575, max: 700 });
    expect(t.tempC).toEqual({ min: 40, median: 41.5, max: 43 });
    expect(t.memUsedBytes).toEqual({ min: 8e9, median: 8e9, max: 8e9 });
  });

  it('energy of the pass and joules per token of each phase from the counter', () => {
    const t = summarizeTelemetry(telemetry(0), 64, 16);
    expect(t.energyJ).toBeCloseTo(10.5, 12);
    expect(t.prefillJPerToken).toBeCloseTo(2.5 / 64, 12);
    expect(t.decodeJPerToken).toBeCloseTo(8 / 16, 12);
    // Decode mode has no prefill tokens; prefill mode no decode tokens.
    expect(summarizeTelemetry(telemetry(0), 0, 16).prefillJPerToken).toBeNull();
    expect(summarizeTelemetry(telemetry(0), 64, 0).decodeJPerToken).toBeNull();
  });

  it('no energy counter: no joules', () => {
    const t = summarizeTelemetry({ ...telemetry(0), energyMj: [] }, 64, 16);
    expect([t.energyJ, t.prefillJPerToken, t.decodeJPerToken]).toEqual([null, null, null]);
    expect(t.powerW).not.toBeNull();
  });

  it('throttled by power or heat; idle and clock settings are not throttling', () => {
    expect(reasonNames(0x41)).toEqual(['gpu_idle', 'hw_thermal_slowdown']);
    expect(summarizeTelemetry(telemetry(0x1 | 0x2 | 0x100), 1, 1).throttled).toBe(false);
    for (const bit of [0x4, 0x8, 0x20, 0x40, 0x80]) expect(summarizeTelemetry(telemetry(bit), 1, 1).throttled).toBe(true);
  });
});

const spec = resolveModel('tiny-llama');
const ctx: RunContext = {
  runName: 'r', spec, device: 'cuda:0', mode: 'both', seed: 42, peaks: { flopsPerS: 1e12, bytesPerS: 1e11 }, bytesPerElem: 2,
  profileDecodeSteps: 4, routing: 'balanced', mtpDrafts: 0, mtpAccept: 'all', provenance: null,
  info: { device: 'cuda:0', deviceName: 'Test GPU', dtype: 'bf16', weightBytes: 0, kvPoolTokens: 0, kvBytesPerToken: 0, blockSize: 16, weightInitMs: 0, deviceInfo: FAKE_H100 },
};
const raw = (t: NativeTelemetry | null): NativePointResult => ({
  waitingMs: 0, prefillMs: 8, decodeStepMs: [1, 1, 1], decodeContext: [17, 18, 19], acceptedTokens: [2, 2, 2],
  firstRequestTokens: [], usedGraphs: true, profiledPrefill: [], profiledDecode: [], traceFiles: [], routing: 'balanced',
  expertCounts: [], telemetry: t, telemetryReason: t ? null : 'libnvidia-ml.so.1 not found', kernelPaths: {}, mlaPrefillForm: null, mlaDecodeForm: null,
});
const point = { batchSize: 2, inputLen: 16, outputLen: 4 };

describe('a point with telemetry', () => {
  const hot = buildPointResult(ctx, point, raw(telemetry(0x40)));
  const none = buildPointResult(ctx, point, raw(null));

  it('counts B × input_len prefill tokens and the decode steps\' emitted tokens', () => {
    expect(hot.telemetry?.prefillJPerToken).toBeCloseTo(2.5 / 32, 12);
    expect(hot.telemetry?.decodeJPerToken).toBeCloseTo(8 / 6, 12);
  });

  it('JSONL: the ranges, energy, throttling and the samples the plot view reads back', () => {
    const rec = JSON.parse(toJsonlLine(hot));
    expect(rec).toMatchObject({
      telemetry_reason: null, sm_clock_mhz_min: 1755, sm_clock_mhz_median: 1980, power_w_max: 700, energy_j: 10.5,
      throttled: true, clock_event_reasons: ['hw_thermal_slowdown'],
    });
    expect(rec.telemetry).toHaveLength(4);
    expect(parseJsonl(toJsonlLine(hot), 'x.jsonl')[0]!.telemetry).toEqual(telemetry(0).samples);
    const plain = JSON.parse(toJsonlLine(none));
    expect(plain).toMatchObject({ telemetry: null, telemetry_reason: 'libnvidia-ml.so.1 not found', energy_j: null, throttled: null });
  });

  it('CSV: the summary, without the samples', () => {
    const head = csvHeader().split(',');
    expect(head).not.toContain('telemetry');
    expect(toCsvLine(hot).split(',')[head.indexOf('energy_j')]).toBe('10.5');
  });

  it('tables: J/token per phase and the throttled point marked', () => {
    const cool = buildPointResult(ctx, { ...point, batchSize: 4 }, raw(telemetry(0x1)));
    const decode = formatDecodeTable([hot, cool]);
    expect(decode).toMatch(/J\/token.*Throttled/);
    expect(decode).toMatch(/THROTTLED: hw_thermal_slowdown/);
    expect(decode).toMatch(/1\.33 .* no /);
    expect(formatPrefillTable([hot])).toMatch(/0\.0781/);
    // Without telemetry the columns are not there.
    expect(formatDecodeTable([none])).not.toMatch(/Throttled/);
  });
});
