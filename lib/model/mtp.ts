// MTP speculative decoding settings (native/core/spec_decode.h runs them): the pinned acceptance and
// its pattern, the cache a request needs, and whether a model can draft at all. The pattern and the
// context mirror the C++ exactly (same expressions in the same order), so tests and the cost model
// can predict what the engine does.
import type { ModelSpec } from './model-spec.js';
import { InvalidArgumentError } from '../base/errors.js';

/**
 * Pinned MTP acceptance (DESIGN.md section 4): every draft, a fixed number of drafts (0..drafts), or a
 * rate r in [0, 1]: request b of B accepts ⌊(n+1)·K·r + b/B⌋ − ⌊n·K·r + b/B⌋ of K drafts at step n.
 */
export type MtpAccept = 'all' | number | { rate: number };

/** In the words of the error messages. */
export const MTP_ACCEPT_ALLOWED = "'all', an integer in [0, mtpDrafts] or { rate } with 0 <= rate <= 1";

/**
 * Drafts request b of B accepts at step n of K drafted: K ('all'), N, or for { rate: r }
 * ⌊(n+1)·K·r + b/B⌋ − ⌊n·K·r + b/B⌋, which is K·r on average over the steps, and about B·K·r over the
 * batch at every step (the offsets b/B spread the roundings).
 */
export function acceptedDrafts(accept: MtpAccept, K: number, step: number, b: number, B: number): number {
  if (accept === 'all') return K;
  if (typeof accept === 'number') return accept;
  const offset = b / B;
  return Math.floor((step + 1) * K * accept.rate + offset) - Math.floor(step * K * accept.rate + offset);
}

/** 'all', 'N' or 'rate:r', as results, reports and traces name the setting. */
export function acceptText(accept: MtpAccept): string {
  return typeof accept === 'object' ? `rate:${accept.rate}` : String(accept);
}

/**
 * Cache slots a request needs for `steps` MTP steps after inputLen tokens: each step caches at most
 * K + 1 tokens, the last verification writes K rows past them and the drafts after it K − 1 more.
 */
export function mtpContext(inputLen: number, steps: number, K: number): number {
  return inputLen + steps * (K + 1) + K;
}

/** Refuses drafts on a model without MTP layers (one line, naming the option). */
export function checkMtpModel(spec: ModelSpec, drafts: number): void {
  if (drafts > 0 && !spec.mtpLayers) {
    const allowed = `0: ${spec.name} (${spec.modelType}) has no MTP layers (num_nextn_predict_layers 0)`;
    throw new InvalidArgumentError(`mtpDrafts: ${drafts} is not allowed (allowed: ${allowed})`, { field: 'mtpDrafts', allowed });
  }
}
