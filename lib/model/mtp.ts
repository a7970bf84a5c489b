// MTP speculative decoding settings (native/engine/mtp_decoder.h runs them): the pinned acceptance,
// the cache a request needs, and whether a model can draft at all. The accepted length of each step
// is computed by the engine alone (mtp_decoder.cc's accepted_drafts), which reports it back
// (acceptedTokens, accepted); the context mirrors the C++ mtp_context, so the plan sizes the engine
// for what it will cache.
import type { ModelSpec } from './model-spec.js';
import { InvalidArgumentError } from '../base/errors.js';

/**
 * Pinned MTP acceptance (README, DeepSeek: MLA and multi-token prediction): every draft, a fixed number of drafts (0..drafts), or a
 * rate r in [0, 1]: request b of B accepts ⌊(n+1)·K·r + b/B⌋ − ⌊n·K·r + b/B⌋ of K drafts at step n.
 */
export type MtpAccept = 'all' | number | { rate: number };

/** In the words of the error messages. */
export const MTP_ACCEPT_ALLOWED = "'all', an integer in [0, mtpDrafts] or { rate } with 0 <= rate <= 1";

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
