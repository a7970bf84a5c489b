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

/** Weights of the linear layers of one dense decoder layer (elements). */
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

export interface MoeLayerParams {
  /** The router [E, D]. */
  router: number;
  /** One routed SwiGLU expert (gate, up, down). */
  expert: number;
  /** The shared expert and qwen2_moe's gate on it. */
  shared: number;
}

/** Weights of the MoE block of one MoE layer (elements); all zero for a dense model. */
export function moeLayerParams(spec: ModelSpec): MoeLayerParams {
  const m = spec.moe;
  if (!m) return { router: 0, expert: 0, shared: 0 };
  const D = spec.hiddenSize;
  return {
    router: m.numExperts * D,
    expert: 3 * D * m.expertIntermediateSize,
    shared: 3 * D * m.sharedIntermediateSize + (m.sharedExpertGate ? D : 0),
  };
}

/** How many layers have the MoE block, and how many the dense MLP. */
export function layerKinds(spec: ModelSpec): { moe: number; dense: number } {
  const moe = spec.moe ? spec.moe.layerIsMoe.filter(Boolean).length : 0;
  return { moe, dense: spec.numLayers - moe };
}

/**
 * Linear weights of all layers when each MoE layer uses `experts` routed experts: attention
 * everywhere, the dense MLP in dense layers, and router + experts + shared expert in MoE layers.
 */
function layerParams(spec: ModelSpec, experts: number): number {
  const l = layerMatmulParams(spec);
  const m = moeLayerParams(spec);
  const { moe, dense } = layerKinds(spec);
  return spec.numLayers * (l.qkv + l.o) + dense * (l.gateUp + l.down) + moe * (m.router + experts * m.expert + m.shared);
}

/**
 * Every GEMM weight a token goes through: all layers' linears plus the LM head. MoE counts the
 * experts actually routed: top_k per MoE layer (and the router and shared expert).
 */
export function matmulParams(spec: ModelSpec): number {
  return layerParams(spec, spec.moe?.topK ?? 0) + lmHeadParams(spec);
}

/**
 * Experts per MoE layer that receive at least one of `tokens` tokens: what the balanced policy
 * covers, min(E, tokens · top_k), unless measured expert counts say otherwise.
 */
export function expertsHit(spec: ModelSpec, tokens: number, expertCounts?: readonly number[]): number {
  if (!spec.moe) return 0;
  if (expertCounts && expertCounts.length > 0) return expertCounts.filter((c) => c > 0).length;
  return Math.min(spec.moe.numExperts, tokens * spec.moe.topK);
}

/** RMSNorm weights: two per layer, qwen3's per-head q/k norms, and the final norm. */
export function normParams(spec: ModelSpec): number {
  const perLayer = 2 * spec.hiddenSize + (spec.qkNorm ? 2 * spec.headDim : 0);
  return spec.numLayers * perLayer + spec.hiddenSize;
}

/** qwen2's q/k/v biases, and deepseek_v3's router correction bias. */
export function biasParams(spec: ModelSpec): number {
  const qkv = spec.attentionBias ? spec.numLayers * (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim : 0;
  const router = spec.moe?.topkMethod === 'noaux_tc' ? layerKinds(spec).moe * spec.moe.numExperts : 0;
  return qkv + router;
}

/** Parameter count of the model as stored (the embedding counted once when tied; every expert). */
export function totalParams(spec: ModelSpec): number {
  const embedding = spec.vocabSize * spec.hiddenSize;
  const lmHead = spec.tieWordEmbeddings ? 0 : lmHeadParams(spec);
  return embedding + layerParams(spec, spec.moe?.numExperts ?? 0) + normParams(spec) + biasParams(spec) + lmHead;
}

/** KV cache bytes per token: K and V, every layer. */
export function kvBytesPerToken(spec: ModelSpec, bytesPerElem: number): number {
  return spec.numLayers * 2 * spec.numKvHeads * spec.headDim * bytesPerElem;
}

/**
 * Weight bytes one forward reads for `tokens` tokens: every linear layer, the LM head, the norms and
 * biases, and of the embedding table only the gathered rows — unless the table is the LM head, which
 * is already read whole. Of the routed experts only those that receive a token are read
 * (`experts` per MoE layer, by default expertsHit's balanced coverage).
 */
export function weightBytesRead(spec: ModelSpec, tokens: number, bytesPerElem: number, experts = expertsHit(spec, tokens)): number {
  const embeddingRows = spec.tieWordEmbeddings ? 0 : tokens * spec.hiddenSize;
  const linears = layerParams(spec, experts) + lmHeadParams(spec);
  return (linears + normParams(spec) + biasParams(spec) + embeddingRows) * bytesPerElem;
}

/**
 * One decode step of `batch` requests attending to `context` tokens each (the new token included).
 * flops = 2·B·(matmul params) + 4·B·ctx·layers·heads·head_dim (QKᵀ and PV);
 * bytes = weights read + KV read (B·ctx per layer, K and V) + KV written (B tokens).
 * MoE: `expertCounts` (tokens per expert, from the result) fixes which experts were read.
 */
export function decodeStepCost(spec: ModelSpec, batch: number, context: number, bytesPerElem: number, expertCounts?: readonly number[]): Cost {
  const attnFlops = 4 * batch * context * spec.numLayers * spec.numHeads * spec.headDim;
  const flops = 2 * batch * matmulParams(spec) + attnFlops;
  const kvToken = kvBytesPerToken(spec, bytesPerElem);
  const weights = weightBytesRead(spec, batch, bytesPerElem, expertsHit(spec, batch, expertCounts));
  const bytes = weights + batch * context * kvToken + batch * kvToken;
  return { flops, bytes };
}

/**
 * One prefill forward of `batch` prompts of `inputLen` tokens.
 * flops = 2·B·L·(layer matmul params) + 2·B·(LM head, last token only) + 2·B·L²·layers·heads·head_dim
 * (causal attention: half of the 4·L² of full attention).
 * bytes = weights read (B·L embedding rows) + the KV of B·L tokens written once and read back once
 * (the least any attention kernel moves); activations are not counted. MoE: as decodeStepCost.
 */
export function prefillCost(spec: ModelSpec, batch: number, inputLen: number, bytesPerElem: number, expertCounts?: readonly number[]): Cost {
  const tokens = batch * inputLen;
  const perToken = matmulParams(spec) - lmHeadParams(spec);
  const attnFlops = 2 * batch * inputLen * inputLen * spec.numLayers * spec.numHeads * spec.headDim;
  const flops = 2 * tokens * perToken + 2 * batch * lmHeadParams(spec) + attnFlops;
  const weights = weightBytesRead(spec, tokens, bytesPerElem, expertsHit(spec, tokens, expertCounts));
  const bytes = weights + 2 * tokens * kvBytesPerToken(spec, bytesPerElem);
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
