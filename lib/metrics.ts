// The cost model of DESIGN.md section 5: how many flops and bytes a prefill or a decode step needs
// at minimum, and what that means as a time floor, MFU and MBU. Pure functions of the spec, so a
// reader can check every number by hand and the GPU benchmark and the reports agree.
//
// bytesPerElem is the element size of weights and KV as the backend stores them: 2 for bf16 (CUDA),
// 4 for the fp32 CPU reference backend.
import type { ModelSpec } from './model-spec.js';

export { summarize, percentile, type Stats } from './stats.js';

export interface Cost {
  flops: number;
  bytes: number;
}

export interface Peaks {
  /** Measured FLOP/s of a large GEMM in the backend's dtype. */
  flopsPerS: number;
  /** Measured bytes/s of a large device-to-device copy (bytes read + written, counted once each). */
  bytesPerS: number;
}

export interface LayerMatmuls {
  qkv: number;
  o: number;
  gateUp: number;
  down: number;
  total: number;
}

/** Weights of the linear layers of one decoder layer (elements). */
export function layerMatmulParams(spec: ModelSpec): LayerMatmuls {
  const qDim = spec.numHeads * spec.headDim;
  const kvDim = spec.numKvHeads * spec.headDim;
  const qkv = spec.hiddenSize * (qDim + 2 * kvDim);
  const o = qDim * spec.hiddenSize;
  const gateUp = 2 * spec.hiddenSize * spec.intermediateSize;
  const down = spec.intermediateSize * spec.hiddenSize;
  return { qkv, o, gateUp, down, total: qkv + o + gateUp + down };
}

export function lmHeadParams(spec: ModelSpec): number {
  return spec.vocabSize * spec.hiddenSize;
}

/** Every GEMM weight a token goes through: all layers' linears plus the LM head. */
export function matmulParams(spec: ModelSpec): number {
  return spec.numLayers * layerMatmulParams(spec).total + lmHeadParams(spec);
}

/** RMSNorm weights: two per layer, qwen3's per-head q/k norms, and the final norm. */
export function normParams(spec: ModelSpec): number {
  const perLayer = 2 * spec.hiddenSize + (spec.qkNorm ? 2 * spec.headDim : 0);
  return spec.numLayers * perLayer + spec.hiddenSize;
}

/** qwen2's q/k/v biases. */
export function biasParams(spec: ModelSpec): number {
  if (!spec.attentionBias) return 0;
  return spec.numLayers * (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim;
}

/** Parameter count of the model as stored (the embedding counted once when tied). */
export function totalParams(spec: ModelSpec): number {
  const embedding = spec.vocabSize * spec.hiddenSize;
  const lmHead = spec.tieWordEmbeddings ? 0 : lmHeadParams(spec);
  return embedding + spec.numLayers * layerMatmulParams(spec).total + normParams(spec) + biasParams(spec) + lmHead;
}

/** KV cache bytes per token: K and V, every layer. */
export function kvBytesPerToken(spec: ModelSpec, bytesPerElem: number): number {
  return spec.numLayers * 2 * spec.numKvHeads * spec.headDim * bytesPerElem;
}

/**
 * Weight bytes one forward reads for `tokens` tokens: every linear layer, the LM head, the norms and
 * biases, and of the embedding table only the gathered rows — unless the table is the LM head, which
 * is already read whole.
 */
export function weightBytesRead(spec: ModelSpec, tokens: number, bytesPerElem: number): number {
  const embeddingRows = spec.tieWordEmbeddings ? 0 : tokens * spec.hiddenSize;
  return (matmulParams(spec) + normParams(spec) + biasParams(spec) + embeddingRows) * bytesPerElem;
}

/**
 * One decode step of `batch` requests attending to `context` tokens each (the new token included).
 * flops = 2·B·(matmul params) + 4·B·ctx·layers·heads·head_dim (QKᵀ and PV);
 * bytes = weights read + KV read (B·ctx per layer, K and V) + KV written (B tokens).
 */
export function decodeStepCost(spec: ModelSpec, batch: number, context: number, bytesPerElem: number): Cost {
  const attnFlops = 4 * batch * context * spec.numLayers * spec.numHeads * spec.headDim;
  const flops = 2 * batch * matmulParams(spec) + attnFlops;
  const kvToken = kvBytesPerToken(spec, bytesPerElem);
  const bytes = weightBytesRead(spec, batch, bytesPerElem) + batch * context * kvToken + batch * kvToken;
  return { flops, bytes };
}

/**
 * One prefill forward of `batch` prompts of `inputLen` tokens.
 * flops = 2·B·L·(layer matmul params) + 2·B·(LM head, last token only) + 2·B·L²·layers·heads·head_dim
 * (causal attention: half of the 4·L² of full attention).
 * bytes = weights read (B·L embedding rows) + the KV of B·L tokens written once and read back once
 * (the least any attention kernel moves); activations are not counted.
 */
export function prefillCost(spec: ModelSpec, batch: number, inputLen: number, bytesPerElem: number): Cost {
  const tokens = batch * inputLen;
  const layerParams = spec.numLayers * layerMatmulParams(spec).total;
  const attnFlops = 2 * batch * inputLen * inputLen * spec.numLayers * spec.numHeads * spec.headDim;
  const flops = 2 * tokens * layerParams + 2 * batch * lmHeadParams(spec) + attnFlops;
  const bytes = weightBytesRead(spec, tokens, bytesPerElem) + 2 * tokens * kvBytesPerToken(spec, bytesPerElem);
  return { flops, bytes };
}

/** The roofline floor: max(flops / peak FLOP/s, bytes / peak bytes/s), in milliseconds. */
export function floorMs(cost: Cost, peaks: Peaks): number {
  return Math.max(cost.flops / peaks.flopsPerS, cost.bytes / peaks.bytesPerS) * 1000;
}

/** Model FLOPs utilization: achieved FLOP/s over the measured peak. */
export function mfu(flops: number, ms: number, peakFlopsPerS: number): number {
  return flops / (ms / 1000) / peakFlopsPerS;
}

/** Memory bandwidth utilization: achieved bytes/s over the measured peak. */
export function mbu(bytes: number, ms: number, peakBytesPerS: number): number {
  return bytes / (ms / 1000) / peakBytesPerS;
}

/** Element size of the backend's storage dtype. */
export function bytesPerElemOf(dtype: 'f32' | 'bf16'): number {
  return dtype === 'bf16' ? 2 : 4;
}
