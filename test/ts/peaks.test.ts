// measureSteadyPeaks: one measurement on a GPU; on the CPU repeated until two in a row agree within
// 10% (at most PEAK_MAX_ATTEMPTS), the best kept, the spread reported.
import { describe, expect, it } from 'vitest';
import { PEAK_MAX_ATTEMPTS, givenPeaks, measureSteadyPeaks } from '../../lib/api/peaks.js';
import type { NativePeaks } from '../../lib/bridge/native.js';

const sizes = { copyBytes: 256 * 2 ** 20, gemmM: 1024, gemmN: 1024, gemmK: 1024 };

/** A measure() that returns the given (flops, bytes) pairs in turn and counts its calls. */
function sequence(pairs: [number, number][]) {
  let i = 0;
  const measure = async (): Promise<NativePeaks> => {
    const [flopsPerS, bytesPerS] = pairs[Math.min(i, pairs.length - 1)]!;
    // The timed calls name their measurement (count = its index), so a test sees which were kept.
    const calls = { warmup: 1, count: i++, minMs: 1, medianMs: 1, maxMs: 1 };
    return { flopsPerS, bytesPerS, ...sizes, copyCalls: calls, gemmCalls: calls, bus: null };
  };
  return { measure, calls: () => i };
}

describe('measureSteadyPeaks', () => {
  it('keeps the timed calls of the measurement that gave each kept peak', async () => {
    // GEMM best in measurement 1, copy best in measurement 2 (0-based).
    const s = sequence([[50, 90], [100, 95], [96, 100]]);
    const p = await measureSteadyPeaks(s.measure, true);
    expect(p.gemmCalls?.count).toBe(1);
    expect(p.copyCalls?.count).toBe(2);
  });


  it('measures once where it is not asked to repeat (a GPU)', async () => {
    const s = sequence([[10, 5], [20, 9]]);
    const p = await measureSteadyPeaks(s.measure, false);
    expect(s.calls()).toBe(1);
    expect(p).toMatchObject({ flopsPerS: 10, bytesPerS: 5, attempts: 1, steady: true, spread: { flopsPerS: 0, bytesPerS: 0 } });
    expect(p.method).toBe('copy of 256 MiB and 1024x1024x1024 GEMM, each the fastest of several timed calls');
  });

  it('on the CPU repeats past a low measurement until two agree, keeps the best, reports the spread', async () => {
    // The first GEMM run was slowed (a busy core); runs 2 and 3 agree within 10% on both peaks.
    const s = sequence([[50, 100], [100, 100], [95, 98]]);
    const p = await measureSteadyPeaks(s.measure, true);
    expect(s.calls()).toBe(3);
    expect(p.flopsPerS).toBe(100);
    expect(p.bytesPerS).toBe(100);
    expect(p.attempts).toBe(3);
    expect(p.steady).toBe(true);
    expect(p.spread.flopsPerS).toBeCloseTo(0.5, 12);
    expect(p.spread.bytesPerS).toBeCloseTo(0.02, 12);
    expect(p.method).toContain('measured 3 times (until two agree within 10%, at most 5), the best kept');
  });

  it('stops at the bound when no two agree, and says it was not steady', async () => {
    const s = sequence([[10, 10], [20, 10], [40, 10], [80, 10], [160, 10], [320, 10]]);
    const p = await measureSteadyPeaks(s.measure, true);
    expect(s.calls()).toBe(PEAK_MAX_ATTEMPTS);
    expect(p).toMatchObject({ flopsPerS: 160, attempts: PEAK_MAX_ATTEMPTS, steady: false });
    expect(p.spread.flopsPerS).toBeCloseTo(150 / 160, 12);
  });

  it('given peaks are not measured', () => {
    expect(givenPeaks({ flopsPerS: 1, bytesPerS: 2 })).toMatchObject({ flopsPerS: 1, bytesPerS: 2, attempts: 0, method: 'given (the peaks option), not measured' });
  });
});
