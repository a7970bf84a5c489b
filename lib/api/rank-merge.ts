// One point's results of several ranks as one: a step takes as long as its slowest rank, so each
// timed step is the maximum over the ranks of that step (the statistics are taken afterwards, in
// result.ts); what only one rank needs to report (tokens, op profile, telemetry, expert counts) is
// rank 0's. Each rank's own medians are kept beside, to show a straggler.
import { InternalError, type ErrorCode } from '../base/errors.js';
import type { NativePointResult } from '../bridge/native.js';
import { summarize } from './stats.js';

/** One rank's own times of a point. */
export interface RankTimes {
  rank: number;
  prefillMs: number | null;
  decodeMedianMs: number | null;
}

export interface MergedRanks {
  raw: NativePointResult;
  ranks: RankTimes[];
}

function maxOrNull(xs: readonly (number | null)[]): number | null {
  const given = xs.filter((x): x is number => x !== null);
  return given.length === xs.length && given.length > 0 ? Math.max(...given) : null;
}

/** `raws[r]` is rank r's result of the same point. */
export function mergeRanks(raws: readonly NativePointResult[]): MergedRanks {
  const first = raws[0];
  if (!first) throw new InternalError('mergeRanks: no rank results');
  const steps = first.decodeStepMs.length;
  raws.forEach((r, rank) => {
    if (r.decodeStepMs.length !== steps) {
      throw new InternalError(`ranks timed different decode steps: rank 0 ${steps}, rank ${rank} ${r.decodeStepMs.length} (allowed: every rank runs the same point)`);
    }
  });
  const raw: NativePointResult = {
    ...first,
    waitingMs: Math.max(...raws.map((r) => r.waitingMs)),
    prefillMs: maxOrNull(raws.map((r) => r.prefillMs)),
    decodeStepMs: first.decodeStepMs.map((_, i) => Math.max(...raws.map((r) => r.decodeStepMs[i] as number))),
    usedGraphs: raws.every((r) => r.usedGraphs),
    traceFiles: raws.flatMap((r) => r.traceFiles),
  };
  const ranks = raws.map((r, rank) => ({
    rank,
    prefillMs: r.prefillMs,
    decodeMedianMs: r.decodeStepMs.length > 0 ? summarize(r.decodeStepMs).median : null,
  }));
  return { raw, ranks };
}

/** What one rank made of a point: its result, or why it failed. */
export type RankOutcome = { ok: true; raw: NativePointResult } | { ok: false; code: ErrorCode; message: string };

/**
 * Every rank's outcome of one point as one: the first failure (naming its rank, other than 0), else
 * the merged result, with each rank's own times where there are several ranks.
 */
export function combineOutcomes(outcomes: readonly RankOutcome[]): RankOutcome & { ranks: RankTimes[] } {
  const failed = outcomes.findIndex((o) => !o.ok);
  if (failed >= 0) {
    const f = outcomes[failed] as RankOutcome & { ok: false };
    return { ...f, message: failed === 0 ? f.message : `rank ${failed}: ${f.message}`, ranks: [] };
  }
  const merged = mergeRanks(outcomes.map((o) => (o as RankOutcome & { ok: true }).raw));
  return { ok: true, raw: merged.raw, ranks: outcomes.length > 1 ? merged.ranks : [] };
}
