// The attention and multi-token-prediction part of a DeepSeek-V2/V3 ModelSpec, read from a Hugging
// Face config.json as transformers builds DeepseekV2Attention / DeepseekV3Attention (absent fields
// take its class defaults; their MoE part is in moe-spec.ts):
//   - MLA: q_lora_rank (null: q projected directly, as DeepSeek-V2-Lite), kv_lora_rank,
//     qk_nope_head_dim, qk_rope_head_dim, v_head_dim. The config's head_dim (transformers sets it to
//     qk_rope_head_dim) and num_key_value_heads (every head has its own keys and values) do not
//     describe MLA and are ignored: the spec's headDim is qk_nope + qk_rope, the size of a score's dot
//     product, and numKvHeads is numHeads.
//   - rope: interleaved pairs (V2's complex multiply; V3's rope_interleave true computes the same
//     scores). rope_interleave false (rotate_half on the raw layout) is another model and is refused.
//   - attention_bias would put biases on every MLA projection: refused.
//   - MTP (deepseek_v3): num_nextn_predict_layers (alias num_mtp_layers; transformers' default 1)
//     MTP modules after the main layers.
import { bool, fieldError, nonNegInt, posInt, type Obj } from './config-fields.js';

/** DeepSeek multi-head latent attention (native/core/model_spec.h MlaSpec). */
export interface MlaSpec {
  /** 0: q projected directly. */
  qLoraRank: number;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
}

/**
 * The forms MLA runs a step in (docs/design.md, "MLA: absorbed and decompressed"): decompressed
 * (K and V up-projected from the latents, then ordinary attention) runs only at steps without a
 * cached prefix, i.e. prefills; every other step runs absorbed.
 */
export const MLA_FORMS = ['decompressed', 'absorbed'] as const;
export type MlaForm = (typeof MLA_FORMS)[number];

export const MLA_MODEL_TYPES = ['deepseek_v2', 'deepseek_v3'] as const;
export type MlaModelType = (typeof MLA_MODEL_TYPES)[number];

export function isMlaModelType(t: string): t is MlaModelType {
  return (MLA_MODEL_TYPES as readonly string[]).includes(t);
}

export interface MlaParts {
  mla: MlaSpec;
  mtpLayers: number;
}

export function normalizeMla(raw: Obj, modelType: MlaModelType): MlaParts {
  const v3 = modelType === 'deepseek_v3';
  const qLora = raw.q_lora_rank === null ? 0 : posInt(raw, 'q_lora_rank', 1536);
  const rope = posInt(raw, 'qk_rope_head_dim', 64);
  if (rope % 2 !== 0) throw fieldError('qk_rope_head_dim', rope, 'an even positive integer');
  if (bool(raw, 'attention_bias', false)) {
    throw fieldError('attention_bias', true, `false for model_type ${modelType} (biases on the MLA projections are not supported)`);
  }
  if (v3 && !bool(raw, 'rope_interleave', true)) {
    throw fieldError('rope_interleave', false, "true (DeepSeek's interleaved rotary pairs; false is not supported)");
  }
  const mla: MlaSpec = {
    qLoraRank: qLora,
    kvLoraRank: posInt(raw, 'kv_lora_rank', 512),
    qkNopeHeadDim: posInt(raw, 'qk_nope_head_dim', 128),
    qkRopeHeadDim: rope,
    vHeadDim: posInt(raw, 'v_head_dim', 128),
  };
  return { mla, mtpLayers: v3 ? mtpLayers(raw) : 0 };
}

/** num_nextn_predict_layers and its transformers 5 alias num_mtp_layers (must agree when both are given). */
function mtpLayers(raw: Obj): number {
  const n = nonNegInt(raw, 'num_nextn_predict_layers', nonNegInt(raw, 'num_mtp_layers', 1));
  if (raw.num_mtp_layers != null && nonNegInt(raw, 'num_mtp_layers', n) !== n) {
    throw fieldError('num_mtp_layers', raw.num_mtp_layers, `equal to its alias num_nextn_predict_layers (${n})`);
  }
  return n;
}
