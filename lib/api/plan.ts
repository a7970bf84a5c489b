// Sizing one engine for a whole grid: the largest batch, context and tokens per forward of the points
// that can run, and a KV pool for the largest point. The addon caps the pool to what fits in device
// memory (info().kvPoolTokens), so a grid with one huge point still runs its other points and that
// point alone fails with ERR_DOES_NOT_FIT, refused up front with the numbers.
import type { Mode } from '../bridge/native.js';
import type { GridPoint } from './options.js';
import type { ModelSpec } from '../model/model-spec.js';
import { mtpContext } from '../model/mtp.js';

export interface EnginePlan {
  maxBatch: number;
  maxContext: number;
  maxTokensPerStep: number;
  kvPoolTokens: number;
  /** Tokens the largest point needs (with a block of slack per request). */
  kvTokensNeeded: number;
  /** Why kvPoolTokens is below kvTokensNeeded, when it is (the addon may cap it further). */
  capReason?: string;
}

/** Decode steps of a point: output_len − 1 after the prefill's token in mode both, output_len in decode. */
export function decodeSteps(p: GridPoint, mode: Mode): number {
  return mode === 'prefill' ? 0 : mode === 'both' ? p.outputLen - 1 : p.outputLen;
}

/**
 * Context (cache slots) a request needs by the end of a point: input + output, or with `drafts` MTP
 * draft tokens per step what mtpContext says (each step may cache up to drafts + 1 tokens).
 */
export function pointContext(p: GridPoint, mode: Mode = 'both', drafts = 0): number {
  return drafts > 0 ? mtpContext(p.inputLen, decodeSteps(p, mode), drafts) : p.inputLen + p.outputLen;
}

/** Tokens of the largest forward of a point: the prefill (B × input) or a decode step (B × (1 + drafts)). */
export function pointTokensPerStep(p: GridPoint, mode: Mode, drafts = 0): number {
  const decode = p.batchSize * (1 + drafts);
  return mode === 'decode' ? decode : Math.max(p.batchSize * p.inputLen, decode);
}

/** A reason the point cannot run with this model, found before any engine exists; else undefined. */
export function precheckPoint(spec: ModelSpec, p: GridPoint, mode: Mode = 'both', drafts = 0): string | undefined {
  const ctx = pointContext(p, mode, drafts);
  if (ctx > spec.maxPositionEmbeddings) {
    const what = drafts > 0 ? `the context of input_len and ${decodeSteps(p, mode)} MTP steps of ${drafts} drafts, ${ctx},` : `input_len + output_len = ${ctx}`;
    return `${what} exceeds the model's max_position_embeddings (${spec.maxPositionEmbeddings})`;
  }
  return undefined;
}

export interface PlanInput {
  /** The points that passed precheckPoint. */
  points: readonly GridPoint[];
  mode: Mode;
  blockSize: number;
  /** MTP draft tokens per step (0: off). */
  drafts?: number;
  /** A cap the user asked for (kvPoolTokens option). */
  kvPoolTokens?: number;
}

export function planEngine(input: PlanInput): EnginePlan {
  const { points, mode, blockSize } = input;
  const drafts = input.drafts ?? 0;
  let maxBatch = 1, maxContext = 1, maxTokensPerStep = 1, needed = blockSize;
  for (const p of points) {
    const context = pointContext(p, mode, drafts);
    maxBatch = Math.max(maxBatch, p.batchSize);
    maxContext = Math.max(maxContext, context);
    maxTokensPerStep = Math.max(maxTokensPerStep, pointTokensPerStep(p, mode, drafts), p.batchSize);
    // A request's context is rounded up to whole blocks: one block of slack per request covers it.
    needed = Math.max(needed, p.batchSize * (context + blockSize));
  }
  const plan: EnginePlan = { maxBatch, maxContext, maxTokensPerStep, kvPoolTokens: needed, kvTokensNeeded: needed };
  if (input.kvPoolTokens !== undefined) {
    plan.kvPoolTokens = input.kvPoolTokens;
    if (input.kvPoolTokens < needed) plan.capReason = `kvPoolTokens option (${input.kvPoolTokens})`;
  }
  return plan;
}
