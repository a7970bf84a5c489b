// RoPE settings from a Hugging Face config.json, in either of its two forms:
//   - `rope_theta` + `rope_scaling` (most checkpoints; the type is under `rope_type` or, older, `type`);
//   - transformers 5's `rope_parameters` ({rope_type, rope_theta, factor, ...} in one object).
// Both normalize to the same RopeSpec, with every field filled, so two configs that mean the
// same rope compare equal and C++ never sees an absent value.
import { InvalidConfigError } from '../base/errors.js';
import { show } from './config-fields.js';

/** RoPE as the engine computes it (every field filled; native/core/model_spec.h RopeSpec). */
export interface RopeSpec {
  theta: number;
  type: 'default' | 'llama3' | 'linear' | 'yarn';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPosition: number;
  betaFast: number;
  betaSlow: number;
  mscale: number;
  mscaleAllDim: number;
}

export type RopeType = RopeSpec['type'];
export const ROPE_TYPES: readonly RopeType[] = ['default', 'llama3', 'linear', 'yarn'];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface NumRule {
  integer?: boolean;
  /** Value when the field is absent (or null); absent with no default is an error. */
  fallback?: number;
}

/** Reads a positive number (or integer) `obj[key]`; `where` names it in errors ('rope_scaling.factor'). */
function positive(obj: Obj, key: string, where: string, rule: NumRule = {}): number {
  const v = obj[key];
  if ((v === undefined || v === null) && rule.fallback !== undefined) return rule.fallback;
  const allowed = rule.integer ? 'a positive integer' : 'a positive number';
  const ok = typeof v === 'number' && Number.isFinite(v) && v > 0 && (!rule.integer || Number.isSafeInteger(v));
  if (!ok) {
    throw new InvalidConfigError(`config field '${where}' is ${show(v)} (allowed: ${allowed})`, {
      field: where,
      allowed,
    });
  }
  return v as number;
}

/**
 * @param config the whole config.json object
 * @param maxPositionEmbeddings the model's max_position_embeddings (yarn's default original length)
 */
export function normalizeRope(config: Obj, maxPositionEmbeddings: number): RopeSpec {
  let scaling: Obj | undefined;
  let src: string;
  let theta: number;
  const params = config.rope_parameters;
  if (params !== undefined && params !== null) {
    if (!isObj(params)) {
      throw new InvalidConfigError(`config field 'rope_parameters' is ${show(params)} (allowed: an object)`, {
        field: 'rope_parameters',
        allowed: 'an object',
      });
    }
    // transformers 5 keeps rope_theta inside rope_parameters; accept a top-level one as well.
    src = 'rope_parameters';
    scaling = params;
    theta = positive(params, 'rope_theta', 'rope_parameters.rope_theta', {
      fallback: positive(config, 'rope_theta', 'rope_theta', { fallback: 10000 }),
    });
  } else {
    src = 'rope_scaling';
    theta = positive(config, 'rope_theta', 'rope_theta', { fallback: 10000 });
    const s = config.rope_scaling;
    if (s !== undefined && s !== null && !isObj(s)) {
      throw new InvalidConfigError(`config field 'rope_scaling' is ${show(s)} (allowed: an object or null)`, {
        field: 'rope_scaling',
        allowed: 'an object or null',
      });
    }
    scaling = s ?? undefined;
  }

  const spec: RopeSpec = {
    theta,
    type: 'default',
    factor: 1,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPosition: maxPositionEmbeddings,
    betaFast: 32,
    betaSlow: 1,
    mscale: 1,
    mscaleAllDim: 0,
  };
  if (!scaling) return spec;

  const typeKey = scaling.rope_type !== undefined ? 'rope_type' : 'type';
  const rawType = scaling[typeKey] ?? 'default';
  if (typeof rawType !== 'string' || !(ROPE_TYPES as readonly string[]).includes(rawType)) {
    const allowed = ROPE_TYPES.join(', ');
    throw new InvalidConfigError(`config field '${src}.${typeKey}' is ${show(rawType)} (allowed: ${allowed})`, {
      field: `${src}.${typeKey}`,
      allowed,
    });
  }
  spec.type = rawType as RopeType;
  const at = (k: string) => `${src}.${k}`;

  switch (spec.type) {
    case 'default':
      break;
    case 'linear':
      spec.factor = positive(scaling, 'factor', at('factor'));
      break;
    case 'llama3':
      // Every llama3 field is required by transformers as well; there is no sensible default.
      spec.factor = positive(scaling, 'factor', at('factor'));
      spec.lowFreqFactor = positive(scaling, 'low_freq_factor', at('low_freq_factor'));
      spec.highFreqFactor = positive(scaling, 'high_freq_factor', at('high_freq_factor'));
      spec.originalMaxPosition = positive(scaling, 'original_max_position_embeddings', at('original_max_position_embeddings'), {
        integer: true,
      });
      break;
    case 'yarn': {
      spec.factor = positive(scaling, 'factor', at('factor'));
      // As transformers: the pre-training length defaults to max_position_embeddings.
      spec.originalMaxPosition = positive(scaling, 'original_max_position_embeddings', at('original_max_position_embeddings'), {
        integer: true,
        fallback: maxPositionEmbeddings,
      });
      spec.betaFast = positive(scaling, 'beta_fast', at('beta_fast'), { fallback: 32 });
      spec.betaSlow = positive(scaling, 'beta_slow', at('beta_slow'), { fallback: 1 });
      // transformers uses mscale/mscale_all_dim only when both are given (DeepSeek); otherwise the
      // attention factor is 0.1·ln(factor)+1, which is what mscale 1 / mscale_all_dim 0 give in
      // DeepSeek's formula. An explicit attention_factor has no slot in the native spec: refuse it
      // rather than silently compute a different model.
      const hasBoth = scaling.mscale != null && scaling.mscale_all_dim != null;
      if (hasBoth) {
        spec.mscale = positive(scaling, 'mscale', at('mscale'));
        const all = scaling.mscale_all_dim;
        if (typeof all !== 'number' || !Number.isFinite(all) || all < 0) {
          throw new InvalidConfigError(`config field '${at('mscale_all_dim')}' is ${show(all)} (allowed: a number >= 0)`, {
            field: at('mscale_all_dim'),
            allowed: 'a number >= 0',
          });
        }
        spec.mscaleAllDim = all + 0; // -0 passes the check; + 0 makes it 0
      }
      if (scaling.attention_factor != null) {
        throw new InvalidConfigError(`config field '${at('attention_factor')}' is not supported (allowed: absent)`, {
          field: at('attention_factor'),
          allowed: 'absent',
        });
      }
      break;
    }
  }
  return spec;
}
