// Merging one point's results of several ranks (lib/api/rank-merge.ts): a step is the slowest rank's.
import { describe, expect, it } from 'vitest';
import { combineOutcomes, mergeRanks } from '../../lib/api/rank-merge.js';
import type { NativePointResult } from '../../lib/bridge/native.js';

const raw = (prefillMs: number | null, steps: number[], extra: Partial<NativePointResult> = {}): NativePointResult => ({
  waitingMs: 1, prefillMs, decodeStepMs: steps, decodeContext: steps.map((_, i) => 9 + i), acceptedTokens: steps.map(() => 2),
  firstRequestTokens: [7], usedGraphs: true, profiledPrefill: [], profiledDecode: [], traceFiles: [], routing: 'balanced',
  expertCounts: [], telemetry: null, telemetryReason: null, kernelPaths: {}, mlaPrefillForm: null, mlaDecodeForm: null, ...extra,
});

describe('merging ranks', () => {
  it('each step is the maximum over the ranks; each rank’s own medians are kept', () => {
    const { raw: m, ranks } = mergeRanks([
      raw(10, [1, 5, 1], { traceFiles: ['a'] }),
      raw(12, [2, 2, 2], { waitingMs: 4, usedGraphs: false, firstRequestTokens: [8], traceFiles: ['b'] }),
    ]);
    expect(m.prefillMs).toBe(12);
    expect(m.decodeStepMs).toEqual([2, 5, 2]); // not [2, 2, 2] or [1, 5, 1]: per step, then the statistics
    expect(m.waitingMs).toBe(4);
    expect(m.usedGraphs).toBe(false);
    expect(m.firstRequestTokens).toEqual([7]); // rank 0's
    expect(m.traceFiles).toEqual(['a', 'b']);
    expect(ranks).toEqual([{ rank: 0, prefillMs: 10, decodeMedianMs: 1 }, { rank: 1, prefillMs: 12, decodeMedianMs: 2 }]);
  });

  it('ranks that timed different steps are a bug, said in one line', () => {
    expect(() => mergeRanks([raw(null, [1, 2]), raw(null, [1])])).toThrow('ranks timed different decode steps: rank 0 2, rank 1 1');
  });

  it('a failure on any rank fails the point, naming the rank; one rank keeps no per-rank list', () => {
    const failed = combineOutcomes([{ ok: true, raw: raw(1, []) }, { ok: false, code: 'ERR_DOES_NOT_FIT', message: 'too big' }]);
    expect(failed).toMatchObject({ ok: false, code: 'ERR_DOES_NOT_FIT', message: 'rank 1: too big' });
    const one = combineOutcomes([{ ok: true, raw: raw(1, [3]) }]);
    expect(one.ok && one.ranks).toEqual([]);
  });
});
