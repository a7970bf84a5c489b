// ModelSpec: the normalized description of a model that C++ runs. It is built here, in TypeScript,
// from a Hugging Face config.json (a preset, a file, or an object), so every default and every
// validation lives in one place and C++ never parses JSON.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, InvalidConfigError } from '../base/errors.js';
import { normalizeRope, type RopeSpec } from './rope.js';
import { show } from './config-fields.js';
import { PRESET_CONFIGS } from './preset-configs.js';
import { isMoeModelType, MOE_MODEL_TYPES, normalizeMoe, resizeLayerMix, type MoeSpec } from './moe-spec.js';
import { isMlaModelType, normalizeMla, type MlaSpec } from './mla-spec.js';

export const SUPPORTED_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3', ...MOE_MODEL_TYPES] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

export type { RopeSpec };

/**
 * A decoder-only model. MoE models (mixtral, qwen2_moe, qwen3_moe, deepseek_v2/v3) add the `moe`
 * section; the MLA types (deepseek_v2/v3) add `mla` and deepseek_v3 `mtpLayers`. Metrics and the addon
 * switch on their presence, so the dense fields below keep their meaning (intermediateSize is the
 * dense MLP's width, used by an MoE model's non-MoE layers; mixtral's equals its expert width; an MLA
 * model's headDim is qk_nope + qk_rope and its numKvHeads numHeads).
 */
export interface ModelSpec {
  /** Preset name, folder name or `_name_or_path`; used in run names and reports. */
  name: string;
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** Bias on the q, k and v projections (always on in qwen2). */
  attentionBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (qwen3). */
  qkNorm: boolean;
  maxPositionEmbeddings: number;
  rope: RopeSpec;
  moe?: MoeSpec;
  mla?: MlaSpec;
  /** DeepSeek-V3's num_nextn_predict_layers: MTP modules after the main layers (0 or absent: none). */
  mtpLayers?: number;
}

export interface NormalizeOptions {
  /** Replaces num_hidden_layers (`--layers N`): any positive integer. */
  layers?: number;
  name?: string;
}

// Layers bound the per-layer arrays built here (an MoE spec's layer mix): the deepest released
// decoders have ~126 layers, so 4096 refuses only configs whose arrays would exhaust the heap.
const MAX_LAYERS = 4096;

// What each validated field accepts, in the words the error message uses.
const ALLOWED: Record<string, string> = {
  vocab_size: 'a positive integer',
  hidden_size: 'a positive integer',
  intermediate_size: 'a positive integer',
  num_hidden_layers: `a positive integer up to ${MAX_LAYERS}`,
  num_attention_heads: 'a positive integer',
  num_key_value_heads: 'a positive integer that divides num_attention_heads',
  head_dim: 'an even positive integer',
  rms_norm_eps: 'a positive number',
  max_position_embeddings: 'a positive integer',
  tie_word_embeddings: 'true or false',
  attention_bias: 'true or false',
  mlp_bias: 'false',
  hidden_act: "'silu'",
};

const posInt = z.number().int().positive();
const flag = z.boolean().nullish();
const DenseConfig = z.looseObject({
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt.max(MAX_LAYERS),
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  rms_norm_eps: z.number().positive().nullish(),
  max_position_embeddings: posInt.nullish(),
  tie_word_embeddings: flag,
  attention_bias: flag,
  mlp_bias: flag,
  hidden_act: z.string().nullish(),
});
type DenseConfig = z.infer<typeof DenseConfig>;

// transformers' class defaults for what a config may leave out.
const DEFAULT_MAX_POSITIONS: Record<ModelType, number> = {
  llama: 2048, mistral: 131072, qwen2: 32768, qwen3: 32768, mixtral: 131072, qwen2_moe: 32768, qwen3_moe: 32768,
  deepseek_v2: 2048, deepseek_v3: 4096,
};

function configError(field: string, value: unknown, allowed = ALLOWED[field] ?? 'see the model_type docs'): InvalidConfigError {
  const what = value === undefined ? 'is missing' : `is ${show(value)}`;
  return new InvalidConfigError(`config field '${field}' ${what} (allowed: ${allowed})`, { field, allowed });
}

function isModelType(t: unknown): t is ModelType {
  return typeof t === 'string' && (SUPPORTED_MODEL_TYPES as readonly string[]).includes(t);
}

/** Validates `layers` (`--layers N`): any positive integer, more or fewer than the real model's. */
function checkLayers(layers: unknown): number | undefined {
  if (layers === undefined) return undefined;
  if (typeof layers !== 'number' || !Number.isSafeInteger(layers) || layers < 1 || layers > MAX_LAYERS) {
    throw new InvalidArgumentError(`layers: ${show(layers)} is not allowed (allowed: a positive integer up to ${MAX_LAYERS})`, {
      field: 'layers',
      allowed: `a positive integer up to ${MAX_LAYERS}`,
    });
  }
  return layers;
}

/** Head counts and size of a grouped-query attention config (num_key_value_heads, head_dim or hidden / heads). */
function gqaHeads(c: DenseConfig): { numKvHeads: number; headDim: number } {
  const numHeads = c.num_attention_heads;
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw configError('num_key_value_heads', numKvHeads, `a divisor of num_attention_heads (${numHeads})`);
  }
  if (c.head_dim != null) {
    if (c.head_dim % 2 !== 0) throw configError('head_dim', c.head_dim);
    return { numKvHeads, headDim: c.head_dim };
  }
  if (c.hidden_size % numHeads !== 0) {
    throw configError('hidden_size', c.hidden_size, `a multiple of num_attention_heads (${numHeads}) when head_dim is absent`);
  }
  const headDim = c.hidden_size / numHeads;
  if (headDim % 2 !== 0) {
    throw configError('head_dim', headDim, 'an even positive integer (here hidden_size / num_attention_heads)');
  }
  return { numKvHeads, headDim };
}

/**
 * Normalizes a Hugging Face config.json object (model_type llama, mistral, qwen2, qwen3, mixtral,
 * qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3).
 */
export function normalizeConfig(config: object, opts: NormalizeOptions = {}): ModelSpec {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidConfigError('config: expected a config.json object', { allowed: 'an object' });
  }
  const raw = config as Record<string, unknown>;
  const modelType = raw.model_type;
  if (!isModelType(modelType)) {
    throw configError('model_type', modelType, SUPPORTED_MODEL_TYPES.join(', '));
  }
  const layers = checkLayers(opts.layers);

  const parsed = DenseConfig.safeParse(raw);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? 'config');
    throw configError(field, raw[field]);
  }
  const c: DenseConfig = parsed.data;

  if (c.mlp_bias) throw configError('mlp_bias', c.mlp_bias);
  if (c.hidden_act != null && c.hidden_act !== 'silu') throw configError('hidden_act', c.hidden_act);

  const numHeads = c.num_attention_heads;
  const deepseek = isMlaModelType(modelType) ? normalizeMla(raw, modelType) : undefined;
  const { numKvHeads, headDim } = deepseek
    ? { numKvHeads: numHeads, headDim: deepseek.mla.qkNopeHeadDim + deepseek.mla.qkRopeHeadDim }
    : gqaHeads(c);

  const maxPositionEmbeddings = c.max_position_embeddings ?? DEFAULT_MAX_POSITIONS[modelType];
  const rope = normalizeRope(raw, maxPositionEmbeddings);

  // Per architecture, as transformers builds it:
  //  - llama, qwen3: with attention_bias, transformers puts a bias on q, k, v AND o; the native
  //    forward pass has q/k/v biases only (qwen2's), so such a config is refused, not half-run.
  //  - mistral: never a bias (MistralAttention ignores attention_bias). Its sliding_window is
  //    ignored: benchmarks run full causal attention (Mistral 7B v0.3 has none anyway); the same
  //    holds for qwen2's use_sliding_window.
  //  - qwen2: q/k/v always have a bias, o has none.
  //  - qwen3: per-head q/k RMSNorm.
  //  - mixtral: never a bias; qwen2_moe: q/k/v bias unless qkv_bias is false; qwen3_moe: as qwen3.
  //  - deepseek_v2/v3: MLA, checked by normalizeMla (no bias either).
  if ((modelType === 'llama' || modelType === 'qwen3' || modelType === 'qwen3_moe') && c.attention_bias) {
    throw configError('attention_bias', true, `false for model_type ${modelType} (a bias on o_proj is not supported)`);
  }
  const qkvBias = raw.qkv_bias ?? true;
  if (modelType === 'qwen2_moe' && typeof qkvBias !== 'boolean') throw configError('qkv_bias', qkvBias, 'true or false');
  const attentionBias = modelType === 'qwen2' || (modelType === 'qwen2_moe' && qkvBias === true);
  const numLayers = layers ?? c.num_hidden_layers;
  const moe = isMoeModelType(modelType) ? normalizeMoe(raw, modelType, numLayers, c.intermediate_size) : undefined;

  const name = opts.name ?? (typeof raw._name_or_path === 'string' && raw._name_or_path ? raw._name_or_path : modelType);
  return {
    name,
    modelType,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    attentionBias,
    qkNorm: modelType === 'qwen3' || modelType === 'qwen3_moe',
    maxPositionEmbeddings,
    rope,
    ...(moe ? { moe } : {}),
    ...(deepseek ? { mla: deepseek.mla } : {}),
    ...(deepseek?.mtpLayers ? { mtpLayers: deepseek.mtpLayers } : {}),
  };
}

function isModelSpec(v: object): v is ModelSpec {
  const o = v as Record<string, unknown>;
  return typeof o.modelType === 'string' && typeof o.hiddenSize === 'number' && typeof o.rope === 'object';
}

export function presetNames(): string[] {
  return Object.keys(PRESET_CONFIGS);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`model: cannot read ${file}: ${(e as Error).message}`, { field: 'model' });
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new InvalidConfigError(`${file}: not a config.json object (${(e as Error).message})`, { field: 'model' });
  }
}

/**
 * A model given as a preset name, a path to a config.json (or to a folder holding one), a config.json
 * object, or an already normalized ModelSpec (then only `layers` / `name` apply).
 */
export function resolveModel(model: string | object, opts: NormalizeOptions = {}): ModelSpec {
  if (typeof model === 'object' && model !== null) {
    if (isModelSpec(model)) {
      const layers = checkLayers(opts.layers);
      const numLayers = layers ?? model.numLayers;
      const moe = model.moe ? { moe: resizeLayerMix(model.moe, numLayers) } : {};
      const mla = model.mla ? { mla: { ...model.mla } } : {};
      return { ...model, rope: { ...model.rope }, ...moe, ...mla, name: opts.name ?? model.name, numLayers };
    }
    return normalizeConfig(model, opts);
  }
  if (typeof model !== 'string' || model === '') {
    throw new InvalidArgumentError(`model: ${show(model)} is not allowed (allowed: a preset name, a config.json path or object)`, {
      field: 'model',
    });
  }
  const preset = PRESET_CONFIGS[model];
  if (preset) return normalizeConfig(preset.config, { ...opts, name: opts.name ?? model });

  if (existsSync(model)) {
    const isDir = statSync(model).isDirectory();
    const file = isDir ? path.join(model, 'config.json') : model;
    const name = opts.name ?? path.basename(isDir ? path.resolve(model) : path.dirname(path.resolve(model)));
    return normalizeConfig(readConfigFile(file), { ...opts, name });
  }
  const allowed = `a preset (${presetNames().join(', ')}) or a path to a config.json`;
  throw new InvalidArgumentError(`model: '${model}' is not a preset or an existing config.json path (allowed: ${allowed})`, {
    field: 'model',
    allowed,
  });
}
