// Sizing one engine for a whole grid: the largest batch, context and tokens per forward of the points
// that can run, and a KV pool for the largest point. The addon caps the pool to what fits in device
// memory (info().kvPoolTokens), so a grid with one huge point still runs its other points and that
// point alone fails with ERR_DOES_NOT_FIT, refused up front with the numbers.
import type { Mode } from './native.js';
import type { GridPoint } from './options.js';
import type { ModelSpec } from './model-spec.js';

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

/** Context (tokens held in KV) of a request at the end of a point. */
export function pointContext(p: GridPoint): number {
  return p.inputLen + p.outputLen;
}

/** Tokens of the largest forward of a point: the prefill (B × input) or a decode step (B). */
export function pointTokensPerStep(p: GridPoint, mode: Mode): number {
  return mode === 'decode' ? p.batchSize : p.batchSize * p.inputLen;
}

/** A reason the point cannot run with this model, found before any engine exists; else undefined. */
export function precheckPoint(spec: ModelSpec, p: GridPoint): string | undefined {
  const ctx = pointContext(p);
  if (ctx > spec.maxPositionEmbeddings) {
    return `input_len + output_len = ${ctx} exceeds the model's max_position_embeddings (${spec.maxPositionEmbeddings})`;
  }
  return undefined;
}

export interface PlanInput {
  /** The points that passed precheckPoint. */
  points: readonly GridPoint[];
  mode: Mode;
  blockSize: number;
  /** A cap the user asked for (kvPoolTokens option). */
  kvPoolTokens?: number;
}

export function planEngine(input: PlanInput): EnginePlan {
  const { points, mode, blockSize } = input;
  let maxBatch = 1, maxContext = 1, maxTokensPerStep = 1, needed = blockSize;
  for (const p of points) {
    maxBatch = Math.max(maxBatch, p.batchSize);
    maxContext = Math.max(maxContext, pointContext(p));
    maxTokensPerStep = Math.max(maxTokensPerStep, pointTokensPerStep(p, mode), p.batchSize);
    // A request's context is rounded up to whole blocks: one block of slack per request covers it.
    needed = Math.max(needed, p.batchSize * (pointContext(p) + blockSize));
  }
  const plan: EnginePlan = { maxBatch, maxContext, maxTokensPerStep, kvPoolTokens: needed, kvTokensNeeded: needed };
  if (input.kvPoolTokens !== undefined) {
    plan.kvPoolTokens = input.kvPoolTokens;
    if (input.kvPoolTokens < needed) plan.capReason = `kvPoolTokens option (${input.kvPoolTokens})`;
  }
  return plan;
}
