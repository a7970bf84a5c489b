// The mixture-of-experts part of a ModelSpec, read from a Hugging Face config.json the way
// transformers builds each architecture (absent fields take transformers' class defaults):
//   - mixtral: num_local_experts experts of width intermediate_size, num_experts_per_tok of them per
//     token, softmax router whose top-k weights are always renormalized; every layer is MoE.
//   - qwen2_moe: num_experts experts of width moe_intermediate_size; a shared expert of width
//     shared_expert_intermediate_size scaled by sigmoid(x · shared_expert_gate); layer i is MoE when
//     i is not in mlp_only_layers and (i + 1) % decoder_sparse_step == 0, else a dense MLP of width
//     intermediate_size; norm_topk_prob (default false).
//   - qwen3_moe: as qwen2_moe without the shared expert.
import type { NativeMoeSpec } from './native.js';
import { InvalidArgumentError, InvalidConfigError } from './errors.js';

export type MoeSpec = NativeMoeSpec;

export const MOE_MODEL_TYPES = ['mixtral', 'qwen2_moe', 'qwen3_moe'] as const;
export type MoeModelType = (typeof MOE_MODEL_TYPES)[number];

export function isMoeModelType(t: string): t is MoeModelType {
  return (MOE_MODEL_TYPES as readonly string[]).includes(t);
}

type Obj = Record<string, unknown>;

function show(v: unknown): string {
  return v === undefined ? 'missing' : JSON.stringify(v);
}

function fieldError(field: string, value: unknown, allowed: string): InvalidConfigError {
  return new InvalidConfigError(`config field '${field}' is ${show(value)} (allowed: ${allowed})`, { field, allowed });
}

/** A positive integer field; absent or null: `fallback` (transformers' default). */
function posInt(raw: Obj, key: string, fallback: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw fieldError(key, v, 'a positive integer');
  return v;
}

function bool(raw: Obj, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw fieldError(key, v, 'true or false');
  return v;
}

/**
 * A positive integer under a name and its aliases (transformers' attribute_map: qwen3_moe's
 * num_experts is saved by transformers 5 as num_local_experts, mixtral reads num_experts as
 * num_local_experts). Two names present must agree.
 */
function aliasedPosInt(raw: Obj, names: readonly string[], fallback: number): number {
  const present = names.filter((n) => raw[n] !== undefined && raw[n] !== null);
  const [first, ...others] = present;
  if (first === undefined) return fallback;
  const v = posInt(raw, first, fallback);
  for (const n of others) {
    if (posInt(raw, n, fallback) !== v) throw fieldError(n, raw[n], `equal to its alias ${first} (${v})`);
  }
  return v;
}

/** mlp_only_layers: layer indices that keep the dense MLP. */
function layerList(raw: Obj, key: string): number[] {
  const v = raw[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0)) {
    throw fieldError(key, v, 'a list of layer indices (non-negative integers)');
  }
  return v as number[];
}

const DEFAULTS = {
  mixtral: { experts: 8, topK: 2 },
  qwen2_moe: { experts: 60, topK: 4, width: 1408, shared: 5632 },
  qwen3_moe: { experts: 128, topK: 8, width: 768 },
};

/**
 * The MoE spec of a config of an MoE model_type, for `numLayers` layers (`--layers` keeps the real
 * layer mix: the rule is applied to the new count).
 */
export function normalizeMoe(raw: Obj, modelType: MoeModelType, numLayers: number, intermediateSize: number): MoeSpec {
  const base = { scoring: 'softmax' as const, topkMethod: 'greedy' as const, nGroup: 1, topkGroup: 1, routedScalingFactor: 1 };
  let spec: MoeSpec;
  if (modelType === 'mixtral') {
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
