// What the ranks of a launch agree on through the rendezvous, so that no rank enters a point's
// collectives unless every rank does (docs/design.md §11): once the engines are open, the smallest
// KV pool, which every rank holds each point to; before each point, whether it runs. Native admits a
// point by its engine's plan (the same on every rank: the same grid) and its KV pool; a point that
// fits the smallest pool fits every rank's, so a point all agreed on is admitted everywhere.
import { DeviceError, type ErrorCode } from '../base/errors.js';
import type { Mode, NativeEngineInfo } from '../bridge/native.js';
import { kvTokensOf, withFitAdvice, type FitContext } from './fit-advice.js';
import { gridPointKey, type GridPoint } from './options.js';
import { pointContext } from './plan.js';
import type { RankGroup } from './rendezvous.js';

/** One rank's engine as admission sees it, and the fit advice its options give. */
export interface RankSizing {
  rank: number;
  kvPoolTokens: number;
  kvBytesPerToken: number;
  blockSize: number;
  fit: FitContext;
}

/** The launch's sizing: the rank with the smallest KV pool (the lowest such rank), of `world`. */
export interface LaunchSizing extends RankSizing {
  world: number;
}

/** Every rank's engine sizing; each rank gets the same smallest. */
export async function agreeSizing(group: RankGroup, info: NativeEngineInfo, fit: FitContext): Promise<LaunchSizing> {
  const own: RankSizing = { rank: group.rank, kvPoolTokens: info.kvPoolTokens, kvBytesPerToken: info.kvBytesPerToken, blockSize: info.blockSize, fit };
  const all = await group.allGather('engine sizing', own);
  const smallest = all.reduce((a, b) => (b.kvPoolTokens < a.kvPoolTokens ? b : a));
  return { ...smallest, world: group.world };
}

/** Why a point does not run: its error's code and line. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/**
 * A point whose KV cache does not fit the launch's smallest pool, in native's words
 * (check_batch_fits: every request's context in whole blocks) naming that rank, with the advice its
 * options give; else undefined.
 */
export function kvRefusal(p: GridPoint, mode: Mode, drafts: number, s: LaunchSizing): Refusal | undefined {
  const need = kvTokensOf(p, mode, drafts, s.blockSize);
  if (need <= s.kvPoolTokens) return undefined;
  const bytes = (tokens: number) => tokens * s.kvBytesPerToken;
  const message = `batch does not fit the KV cache of rank ${s.rank} (the smallest of the ${s.world} ranks'): needs ${need} tokens ` +
    `(${p.batchSize} x ${pointContext(p, mode, drafts)}, ${bytes(need)} bytes), ${s.kvPoolTokens} tokens (${bytes(s.kvPoolTokens)} bytes) available`;
  return { code: 'ERR_DOES_NOT_FIT', message: withFitAdvice(message, s.fit) };
}

/**
 * Whether point `index` runs, decided alike on every rank from every rank's word: the point it is at
 * and its own refusal (undefined: it would run it). Ranks at different points end the run, each with
 * the same line; else the first refusing rank's refusal (naming it, other than rank 0) is every
 * rank's, and undefined means every rank runs the point.
 */
export async function agreePoint(group: RankGroup, index: number, point: GridPoint, own: Refusal | undefined): Promise<Refusal | undefined> {
  const all = await group.allGather(`point ${index}`, { key: gridPointKey(point), refusal: own ?? null });
  const first = all[0]?.key;
  const stray = all.findIndex((x) => x.key !== first);
  if (stray >= 0) {
    throw new DeviceError(`rank ${stray} is at point ${all[stray]?.key} where rank 0 is at ${first} (allowed: every rank runs the same grid, --resume's file the same on each)`);
  }
  const refusing = all.findIndex((x) => x.refusal !== null);
  const r = all[refusing]?.refusal;
  if (!r) return undefined;
  return refusing === 0 ? r : { code: r.code, message: `rank ${refusing}: ${r.message}` };
}
