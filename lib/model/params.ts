// Parameter counts of a ModelSpec: the weights of each layer's linears, norms and biases, and the
// whole model as stored. Plain arithmetic over the spec, shared by the presets list and the cost
// model (lib/api/metrics.ts).
import type { ModelSpec } from './model-spec.js';

export interface LayerMatmuls {
  /** The attention's input projections: q, k, v (MLA: q or its LoRA, kv_a and kv_b). */
  qkv: number;
  o: number;
  gateUp: number;
  down: number;
  total: number;
}

/** Weights of the attention's input projections of one layer. */
function attentionInParams(spec: ModelSpec): number {
  const D = spec.hiddenSize, H = spec.numHeads, m = spec.mla;
  if (!m) return D * (H + 2 * spec.numKvHeads) * spec.headDim;
  const q = H * (m.qkNopeHeadDim + m.qkRopeHeadDim);
  const qProj = m.qLoraRank > 0 ? D * m.qLoraRank + m.qLoraRank * q : D * q;
  return qProj + D * (m.kvLoraRank + m.qkRopeHeadDim) + m.kvLoraRank * H * (m.qkNopeHeadDim + m.vHeadDim);
}

/** Weights of the linear layers of one dense decoder layer (elements). */
export function layerMatmulParams(spec: ModelSpec): LayerMatmuls {
  const qkv = attentionInParams(spec);
  const o = spec.numHeads * (spec.mla ? spec.mla.vHeadDim : spec.headDim) * spec.hiddenSize;
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
export function layerParams(spec: ModelSpec, experts: number): number {
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

/** RMSNorm weights of one layer: two, qwen3's per-head q/k norms, MLA's q_a and kv_a norms. */
export function layerNormParams(spec: ModelSpec): number {
  const mla = spec.mla ? spec.mla.qLoraRank + spec.mla.kvLoraRank : 0;
  return 2 * spec.hiddenSize + (spec.qkNorm ? 2 * spec.headDim : 0) + mla;
}

/** RMSNorm weights: every layer's and the final norm. */
export function normParams(spec: ModelSpec): number {
  return spec.numLayers * layerNormParams(spec) + spec.hiddenSize;
}

/** qwen2's q/k/v biases, and deepseek_v3's router correction bias. */
export function biasParams(spec: ModelSpec): number {
  const qkv = spec.attentionBias ? spec.numLayers * (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim : 0;
  const router = spec.moe?.topkMethod === 'noaux_tc' ? layerKinds(spec).moe * spec.moe.numExperts : 0;
  return qkv + router;
}

/**
 * Parameter count of the model as stored (the embedding counted once when tied; every expert), less
 * the MTP modules (mtpParams): DeepSeek-V3's 671B is the main model's.
 */
export function totalParams(spec: ModelSpec): number {
  const embedding = spec.vocabSize * spec.hiddenSize;
  const lmHead = spec.tieWordEmbeddings ? 0 : lmHeadParams(spec);
  return embedding + layerParams(spec, spec.moe?.numExperts ?? 0) + normParams(spec) + biasParams(spec) + lmHead;
}
