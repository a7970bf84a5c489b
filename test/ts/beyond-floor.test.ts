// A ratio below 1 or an MFU/MBU above 100% is never printed silently: the cell is marked and a note
// under the tables says the peak was measured low and how to get a steady one.
import { describe, expect, it } from 'vitest';
import { buildPointResult, type RunContext } from '../../lib/api/result.js';
import type { NativePointResult } from '../../lib/bridge/native.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { beyondFloorNote, fmtRatio, fmtUse, formatTables } from '../../lib/report/table.js';
import { formatTablesMarkdown } from '../../lib/views/markdown.js';
import { FAKE_CPU } from './fake-addon.js';

const spec = resolveModel('tiny-llama');

function ctx(flopsPerS: number, bytesPerS: number): RunContext {
  return {
    runName: 'r', spec, device: 'cpu', mode: 'both', seed: 42, peaks: { flopsPerS, bytesPerS }, bytesPerElem: 4, profileDecodeSteps: 4,
    routing: 'balanced', mtpDrafts: 0, mtpAccept: 'all', provenance: null,
    info: { device: 'cpu', deviceName: 'Test CPU', dtype: 'f32', weightBytes: 0, kvPoolTokens: 0, kvBytesPerToken: 0, blockSize: 16, weightInitMs: 0, deviceInfo: FAKE_CPU },
  };
}

const raw: NativePointResult = {
  waitingMs: 0.5, prefillMs: 8, decodeStepMs: [1, 1, 1], decodeContext: [17, 18, 19], acceptedTokens: [2, 2, 2], firstRequestTokens: [],
  usedGraphs: false, profiledPrefill: [], profiledDecode: [], traceFiles: [], routing: 'balanced', expertCounts: [], telemetry: null, telemetryReason: 'no NVML: CPU device', kernelPaths: {}, mlaPrefillForm: null, mlaDecodeForm: null,
};
const point = { batchSize: 2, inputLen: 16, outputLen: 4 };

describe('numbers beyond the floor', () => {
  it('ratio below 1 and use above 100% are marked; the rest is not', () => {
    expect(fmtRatio(0.74)).toBe('0.74x!');
    expect(fmtRatio(1)).toBe('1.00x');
    expect(fmtUse(1.353)).toBe('135.3%!');
    expect(fmtUse(0.5)).toBe('50.0%');
  });

  it('a point measured against peaks far too low is marked in the tables, with the note under them', () => {
    // Peaks of 1 kFLOP/s and 1 kB/s: every floor is far above the measured times.
    const low = buildPointResult(ctx(1e3, 1e3), point, raw);
    expect(low.decodeRatio!).toBeLessThan(1);
    const text = formatTables([low]);
    expect(text).toMatch(/│ \d+\.\d\dx! +│ [\d.]+%! +│/);
    const note = beyondFloorNote([low])!;
    expect(note).toMatch(/^!: 1 point ran faster than the floor \(ratio below 1x or MFU\/MBU above 100%\): the floor's peak was measured low, as on a busy CPU,/);
    expect(note).toContain('run on an idle machine with --threads at most its free cores, or pass known peaks');
    expect(text).toContain(note);
    expect(formatTablesMarkdown([low])).toContain(note);
  });

  it('a point within its floor gets no mark and no note', () => {
    const fine = buildPointResult(ctx(1e15, 1e15), point, raw);
    expect(fine.decodeRatio!).toBeGreaterThan(1);
    expect(beyondFloorNote([fine])).toBeUndefined();
    expect(formatTables([fine])).not.toContain('!');
  });
});
