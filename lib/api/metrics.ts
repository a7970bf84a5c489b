// The cost model (docs/design.md, section 3): how many flops and bytes a prefill or a decode step needs
// at minimum, and what that means as a time floor, MFU and MBU. Pure functions of the spec, so a
// reader can check every number by hand and the GPU benchmark and the reports agree.
//
// MLA (deepseek) is counted in the form the engine ran (docs/design.md, "MLA: absorbed and
// decompressed"): per token and layer the cache holds one row of kv_lora + rope elements; absorbed
// (decode, and prefill with --mla-prefill absorbed), a query row's attention over ctx cached tokens
// costs 2·ctx·H·(2·kv_lora + rope) flops (scores over [latent | k_pe], the output over the latents);
// decompressed (prefill), 2·ctx·H·(nope + rope + v) (scores over per-head [k_nope | k_pe], the output
// over per-head v). Either way kv_b_proj is read once and costs 2·kv_lora·H·(nope + v) flops per token:
// absorbed as W_UK and W_UV on the token's query and output, decompressed as the up-projection of the
// token's latent into its keys and values. MTP adds, per step, the verification of 1 + K tokens per
// request and the MTP module's draft forwards (mtpDraftCost).
//
// bytesPerElem is the element size of weights and KV as the backend stores them: 2 for bf16 (CUDA),
// 4 for the fp32 CPU reference backend.
import type { ModelSpec } from '../model/model-spec.js';
import type { MlaForm } from '../model/mla-spec.js';
import { biasParams, layerMatmulParams, layerNormParams, layerParams, lmHeadParams, matmulParams, moeLayerParams, normParams } from '../model/params.js';
import type { PeakCalls } from '../bridge/native.js';
export { summarize, percentile, type Stats } from './stats.js';
export {
  biasParams,
  layerKinds,
  layerMatmulParams,
  lmHeadParams,
  matmulParams,
  moeLayerParams,
  normParams,
  totalParams,
  type LayerMatmuls,
  type MoeLayerParams,
} from '../model/params.js';

export interface Cost {
  flops: number;
  bytes: number;
}

export interface Peaks {
  /** Measured FLOP/s of a large GEMM in the backend's dtype. */
  flopsPerS: number;
  /** Measured bytes/s of a large device-to-device copy (bytes read + written, counted once each). */
  bytesPerS: number;
  /** The timed calls behind each (absent where the caller gave the peaks). */
  copyCalls?: PeakCalls;
  gemmCalls?: PeakCalls;
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


/** KV cache bytes per token and layer: K and V, or MLA's row of kv_lora + rope. */
function kvBytesPerTokenLayer(spec: ModelSpec, bytesPerElem: number): number {
  const m = spec.mla;
  return (m ? m.kvLoraRank + m.qkRopeHeadDim : 2 * spec.numKvHeads * spec.headDim) * bytesPerElem;
}

/** KV cache bytes per token, every layer of the main model. */
export function kvBytesPerToken(spec: ModelSpec, bytesPerElem: number): number {
  return spec.numLayers * kvBytesPerTokenLayer(spec, bytesPerElem);
}

/**
 * Attention flops of one query row per cached token it attends to, per layer: QKᵀ and PV; MLA in
 * the given form (decode steps always run absorbed).
 */
export function attnFlopsPerToken(spec: ModelSpec, mlaForm: MlaForm = 'absorbed'): number {
  const m = spec.mla;
  if (!m) return 4 * spec.numHeads * spec.headDim;
  return mlaForm === 'absorbed'
    ? 2 * spec.numHeads * (2 * m.kvLoraRank + m.qkRopeHeadDim)
    : 2 * spec.numHeads * (m.qkNopeHeadDim + m.qkRopeHeadDim + m.vHeadDim);
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
 * flops = 2·B·(matmul params) + B·ctx·layers·attnFlopsPerToken (4·heads·head_dim: QKᵀ and PV);
 * bytes = weights read + KV read (B·ctx per layer) + KV written (B tokens).
 * MoE: `expertCounts` (tokens per expert, from the result) fixes which experts were read.
 * MTP with `drafts` K: the main model verifies 1 + K rows per request (row j attends to ctx + j) and
 * reads each request's cache once, up to its last row; then the MTP module drafts (mtpDraftCost).
 */
export function decodeStepCost(
  spec: ModelSpec, batch: number, context: number, bytesPerElem: number, expertCounts?: readonly number[], drafts = 0,
): Cost {
  const rows = batch * (1 + drafts);
  const attended = batch * ((1 + drafts) * context + (drafts * (drafts + 1)) / 2);
  const flops = 2 * rows * matmulParams(spec) + attended * spec.numLayers * attnFlopsPerToken(spec);
  const kvToken = kvBytesPerToken(spec, bytesPerElem);
  const weights = weightBytesRead(spec, rows, bytesPerElem, expertsHit(spec, rows, expertCounts));
  const main = { flops, bytes: weights + batch * (context + drafts) * kvToken + rows * kvToken };
  return drafts > 0 ? addCost(main, mtpDraftCost(spec, batch, context, bytesPerElem, drafts, 'decode')) : main;
}

/**
 * One prefill forward of `batch` prompts of `inputLen` tokens.
 * flops = 2·B·L·(layer matmul params) + 2·B·(LM head, last token only) + B·L²/2·layers·attnFlopsPerToken
 * (causal attention: half of full attention).
 * bytes = weights read (B·L embedding rows) + the KV of B·L tokens written once and read back once
 * (the least any attention kernel moves); activations are not counted. MoE: as decodeStepCost. With
 * MTP the prefill also runs the MTP module over the prompt and drafts the first K tokens. MLA models
 * in `mlaForm`, the form the prefill ran (the engine's default: decompressed).
 */
export function prefillCost(
  spec: ModelSpec, batch: number, inputLen: number, bytesPerElem: number, expertCounts?: readonly number[], drafts = 0,
  mlaForm: MlaForm = 'decompressed',
): Cost {
  const tokens = batch * inputLen;
  const perToken = matmulParams(spec) - lmHeadParams(spec);
  const attnFlops = (batch * inputLen * inputLen * spec.numLayers * attnFlopsPerToken(spec, mlaForm)) / 2;
  const flops = 2 * tokens * perToken + 2 * batch * lmHeadParams(spec) + attnFlops;
  const weights = weightBytesRead(spec, tokens, bytesPerElem, expertsHit(spec, tokens, expertCounts));
  const main = { flops, bytes: weights + 2 * tokens * kvBytesPerToken(spec, bytesPerElem) };
  return drafts > 0 ? addCost(main, mtpDraftCost(spec, batch, inputLen, bytesPerElem, drafts, 'prefill', mlaForm)) : main;
}

function addCost(a: Cost, b: Cost): Cost {
  return { flops: a.flops + b.flops, bytes: a.bytes + b.bytes };
}

/** Weights of one MTP module with `experts` routed experts per MoE block: eh_proj and its decoder layer. */
function mtpLayerParams(spec: ModelSpec, experts: number): number {
  const l = layerMatmulParams(spec);
  const m = moeLayerParams(spec);
  const ffn = spec.moe ? m.router + experts * m.expert + m.shared : l.gateUp + l.down;
  return 2 * spec.hiddenSize * spec.hiddenSize + l.qkv + l.o + ffn;
}

/** One MTP module's norms (enorm, hnorm, shared_head.norm and its layer's) and deepseek_v3's router bias. */
function mtpSmallParams(spec: ModelSpec): number {
  const bias = spec.moe?.topkMethod === 'noaux_tc' ? spec.moe.numExperts : 0;
  return 3 * spec.hiddenSize + layerNormParams(spec) + bias;
}

/** The MTP modules as stored, less the embedding and LM head they share with the main model. */
export function mtpParams(spec: ModelSpec): number {
  return (spec.mtpLayers ?? 0) * (mtpLayerParams(spec, spec.moe?.numExperts ?? 0) + mtpSmallParams(spec));
}

/**
 * One MTP forward over `rows` rows attending to `attended` cached tokens in all and reading
 * `kvRead` cached tokens, `batch` of them (one per request) through the shared LM head; MLA in
 * `mlaForm`.
 */
function mtpForwardCost(
  spec: ModelSpec, rows: number, batch: number, attended: number, kvRead: number, bytesPerElem: number, mlaForm: MlaForm = 'absorbed',
): Cost {
  const layer = mtpLayerParams(spec, spec.moe?.topK ?? 0);
  const flops = 2 * rows * layer + 2 * batch * lmHeadParams(spec) + attended * attnFlopsPerToken(spec, mlaForm);
  const embeddingRows = spec.tieWordEmbeddings ? 0 : rows * spec.hiddenSize;
  const weights = mtpLayerParams(spec, expertsHit(spec, rows)) + mtpSmallParams(spec) + lmHeadParams(spec) + embeddingRows;
  const kv = kvBytesPerTokenLayer(spec, bytesPerElem);
  return { flops, bytes: weights * bytesPerElem + (kvRead + rows) * kv };
}

/**
 * The MTP module's drafting of K tokens per request (native/engine/mtp_decoder.h): one forward over the
 * rows of the last main forward (the prompt after a prefill; the 1 + K verified rows after a decode
 * step), then K − 1 forwards of one row per request, draft k attending to k more tokens. The forward
 * over the prompt is a prefill, in `prefillForm` as the main model's (MLA); the others run absorbed.
 */
export function mtpDraftCost(
  spec: ModelSpec, batch: number, context: number, bytesPerElem: number, drafts: number, after: 'prefill' | 'decode',
  prefillForm: MlaForm = 'decompressed',
): Cost {
  const L = context;
  let cost =
    after === 'prefill'
      ? mtpForwardCost(spec, batch * L, batch, (batch * L * L) / 2, batch * L, bytesPerElem, prefillForm)
      : mtpForwardCost(spec, batch * (1 + drafts), batch, batch * ((1 + drafts) * L + (drafts * (drafts + 1)) / 2),
          batch * (L + drafts), bytesPerElem);
  for (let k = 1; k < drafts; k++) cost = addCost(cost, mtpForwardCost(spec, batch, batch, batch * (L + k), batch * (L + k), bytesPerElem));
  return cost;
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
