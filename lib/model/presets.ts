// The built-in models (preset-configs.ts holds their config.json objects) and their listing.
import { PRESET_CONFIGS } from './preset-configs.js';
import { normalizeConfig, type ModelSpec } from './model-spec.js';
import { totalParams } from './params.js';

export interface PresetInfo {
  name: string;
  modelType: string;
  /** Parameters as stored (tied embeddings counted once). */
  params: number;
  numLayers: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  description: string;
  /** The checkpoint the numbers come from (real models only). */
  source?: string;
}

/** The HF-style config.json object of a preset (a copy), or undefined. */
export function presetConfig(name: string): Record<string, unknown> | undefined {
  const p = PRESET_CONFIGS[name];
  return p ? structuredClone(p.config) : undefined;
}

export function presetSpec(name: string): ModelSpec | undefined {
  const p = PRESET_CONFIGS[name];
  return p ? normalizeConfig(p.config, { name }) : undefined;
}

export function listPresets(): PresetInfo[] {
  return Object.entries(PRESET_CONFIGS).map(([name, p]) => {
    const spec = normalizeConfig(p.config, { name });
    return {
      name,
      modelType: spec.modelType,
      params: totalParams(spec),
      numLayers: spec.numLayers,
      hiddenSize: spec.hiddenSize,
      numHeads: spec.numHeads,
      numKvHeads: spec.numKvHeads,
      description: p.description,
      ...(p.source !== undefined ? { source: p.source } : {}),
    };
  });
}

/** 8030261248 → '8.03B', 3954944 → '3.95M'. */
export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}
