// The mixture-of-experts part of a ModelSpec, read from a Hugging Face config.json the way
// transformers builds each architecture (absent fields take transformers' class defaults):
//   - mixtral: num_local_experts experts of width intermediate_size, num_experts_per_tok of them per
//     token, softmax router whose top-k weights are always renormalized; every layer is MoE.
//   - qwen2_moe: num_experts experts of width moe_intermediate_size; a shared expert of width
//     shared_expert_intermediate_size scaled by sigmoid(x · shared_expert_gate); layer i is MoE when
//     i is not in mlp_only_layers and (i + 1) % decoder_sparse_step == 0, else a dense MLP of width
//     intermediate_size; norm_topk_prob (default false).
//   - qwen3_moe: as qwen2_moe without the shared expert.
//   - deepseek_v2, deepseek_v3 (transformers' DeepseekV2Moe / DeepseekV3MoE): n_routed_experts experts
//     of width moe_intermediate_size and one shared expert n_shared_experts times as wide; layer i is
//     MoE when i >= first_k_dense_replace and i % moe_layer_freq == 0 (DeepSeek's own rule;
//     transformers ignores moe_layer_freq, 1 in every checkpoint), else a dense MLP of width
//     intermediate_size. Routers: V2 softmax with greedy or group_limited_greedy, never renormalized
//     (transformers' V2 ignores norm_topk_prob, false in the V2 checkpoints), scaled by
//     routed_scaling_factor; V3 sigmoid with noaux_tc (e_score_correction_bias) and norm_topk_prob.
import { InvalidArgumentError } from '../base/errors.js';
import { aliasedPosInt, bool, fieldError, nonNegInt, oneOf, posInt, posNumber, type Obj } from './config-fields.js';

/** Mixture of experts (native/core/model_spec.h MoeSpec). */
export interface MoeSpec {
  numExperts: number;
  topK: number;
  expertIntermediateSize: number;
  /** 0: no shared expert. */
  sharedIntermediateSize: number;
  /** qwen2_moe: sigmoid(x · w) scales the shared expert. */
  sharedExpertGate: boolean;
  normTopkProb: boolean;
  scoring: 'softmax' | 'sigmoid';
  topkMethod: 'greedy' | 'group_limited_greedy' | 'noaux_tc';
  nGroup: number;
  topkGroup: number;
  routedScalingFactor: number;
  /** One entry per layer: whether it has the MoE block (else the dense MLP). */
  layerIsMoe: boolean[];
}

export const MOE_MODEL_TYPES = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'deepseek_v2', 'deepseek_v3'] as const;
export type MoeModelType = (typeof MOE_MODEL_TYPES)[number];

export function isMoeModelType(t: string): t is MoeModelType {
  return (MOE_MODEL_TYPES as readonly string[]).includes(t);
}

/** mlp_only_layers: layer indices that keep the dense MLP. */
function layerList(raw: Obj, key: string): number[] {
  const v = raw[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)) {
    throw fieldError(key, v, 'a list of layer indices (non-negative integers)');
  }
  return v as number[];
}

const DEFAULTS = {
  mixtral: { experts: 8, topK: 2 },
  qwen2_moe: { experts: 60, topK: 4, width: 1408, shared: 5632 },
  qwen3_moe: { experts: 128, topK: 8, width: 768 },
};

/** DeepSeek's MoE (the header says how); V2 has no default top-k, so num_experts_per_tok is required. */
function deepseekMoe(raw: Obj, modelType: 'deepseek_v2' | 'deepseek_v3', numLayers: number): MoeSpec {
  const v3 = modelType === 'deepseek_v3';
  const width = posInt(raw, 'moe_intermediate_size', v3 ? 2048 : 1407);
  const firstMoe = nonNegInt(raw, 'first_k_dense_replace', v3 ? 3 : 0);
  const freq = posInt(raw, 'moe_layer_freq', 1);
  return {
    numExperts: aliasedPosInt(raw, ['n_routed_experts', v3 ? 'num_local_experts' : 'num_experts'], v3 ? 256 : 64),
    topK: posInt(raw, 'num_experts_per_tok', v3 ? 8 : undefined),
    expertIntermediateSize: width,
    sharedIntermediateSize: nonNegInt(raw, 'n_shared_experts', v3 ? 1 : 2) * width,
    sharedExpertGate: false,
    normTopkProb: v3 && bool(raw, 'norm_topk_prob', true),
    scoring: oneOf(raw, 'scoring_func', ['softmax', 'sigmoid'], v3 ? 'sigmoid' : 'softmax'),
    topkMethod: oneOf(raw, 'topk_method', ['greedy', 'group_limited_greedy', 'noaux_tc'], v3 ? 'noaux_tc' : 'greedy'),
    nGroup: posInt(raw, 'n_group', v3 ? 8 : 1),
    topkGroup: posInt(raw, 'topk_group', v3 ? 4 : 1),
    routedScalingFactor: posNumber(raw, 'routed_scaling_factor', v3 ? 2.5 : 1),
    layerIsMoe: Array.from({ length: numLayers }, (_, i) => i >= firstMoe && i % freq === 0),
  };
}

/**
 * The MoE spec of a config of an MoE model_type, for `numLayers` layers (`--layers` keeps the real
 * layer mix: the rule is applied to the new count).
 */
export function normalizeMoe(raw: Obj, modelType: MoeModelType, numLayers: number, intermediateSize: number): MoeSpec {
  const base = { scoring: 'softmax' as const, topkMethod: 'greedy' as const, nGroup: 1, topkGroup: 1, routedScalingFactor: 1 };
  let spec: MoeSpec;
  if (modelType === 'deepseek_v2' || modelType === 'deepseek_v3') {
    spec = deepseekMoe(raw, modelType, numLayers);
  } else if (modelType === 'mixtral') {
    spec = {
      ...base,
      numExperts: aliasedPosInt(raw, ['num_local_experts', 'num_experts'], DEFAULTS.mixtral.experts),
      topK: posInt(raw, 'num_experts_per_tok', DEFAULTS.mixtral.topK),
      expertIntermediateSize: intermediateSize,
      sharedIntermediateSize: 0,
      sharedExpertGate: false,
      normTopkProb: true,
      layerIsMoe: Array<boolean>(numLayers).fill(true),
    };
  } else {
    const d = modelType === 'qwen2_moe' ? DEFAULTS.qwen2_moe : DEFAULTS.qwen3_moe;
    const step = posInt(raw, 'decoder_sparse_step', 1);
    const mlpOnly = layerList(raw, 'mlp_only_layers');
    const shared = modelType === 'qwen2_moe' ? posInt(raw, 'shared_expert_intermediate_size', DEFAULTS.qwen2_moe.shared) : 0;
    spec = {
      ...base,
      numExperts: aliasedPosInt(raw, modelType === 'qwen3_moe' ? ['num_experts', 'num_local_experts'] : ['num_experts'], d.experts),
      topK: posInt(raw, 'num_experts_per_tok', d.topK),
      expertIntermediateSize: posInt(raw, 'moe_intermediate_size', d.width),
      sharedIntermediateSize: shared,
      sharedExpertGate: shared > 0,
      normTopkProb: bool(raw, 'norm_topk_prob', false),
      layerIsMoe: Array.from({ length: numLayers }, (_, i) => !mlpOnly.includes(i) && (i + 1) % step === 0),
    };
  }
  if (spec.topK > spec.numExperts) {
    throw fieldError('num_experts_per_tok', spec.topK, `a positive integer <= the number of experts (${spec.numExperts})`);
  }
  return spec;
}

/** The layer mix of a normalized spec cut to `layers` layers (a spec object has no rule to extend it by). */
export function resizeLayerMix(moe: MoeSpec, layers: number): MoeSpec {
  if (layers > moe.layerIsMoe.length) {
    throw new InvalidArgumentError(
      `layers: ${layers} is more than the ${moe.layerIsMoe.length} layers of this MoE spec's layer mix ` +
        '(pass the config.json instead, whose rule extends to any count)',
      { field: 'layers', allowed: `at most ${moe.layerIsMoe.length}` },
    );
  }
  return { ...moe, layerIsMoe: moe.layerIsMoe.slice(0, layers) };
}
