import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizeConfig, resolveModel, presetNames, type ModelSpec } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { presetConfig, listPresets } from '../../lib/model/presets.js';
import { InvalidArgumentError, InvalidConfigError } from '../../lib/base/errors.js';
import { configError } from './config-error.js';

const llama = () => presetConfig('llama-3.1-8b') as Record<string, unknown>;


describe('presets', () => {
  it.each(presetNames())('%s normalizes', (name) => {
    const spec = resolveModel(name);
    expect(spec.name).toBe(name);
    expect(spec.numHeads % spec.numKvHeads).toBe(0);
    expect(spec.headDim % 2).toBe(0);
  });

  it('has the published Llama 3.1 8B shape', () => {
    const s = resolveModel('llama-3.1-8b');
    expect(s).toMatchObject({
      modelType: 'llama', vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336, numLayers: 32,
      numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, tieWordEmbeddings: false,
      attentionBias: false, qkNorm: false, maxPositionEmbeddings: 131072,
    });
    expect(s.rope).toMatchObject({ theta: 500000, type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPosition: 8192 });
  });

  it('sets the per-architecture flags', () => {
    expect(resolveModel('qwen2.5-7b')).toMatchObject({ attentionBias: true, qkNorm: false, headDim: 128 });
    expect(resolveModel('tiny-qwen2')).toMatchObject({ attentionBias: true, tieWordEmbeddings: true });
    expect(resolveModel('qwen3-8b')).toMatchObject({ attentionBias: false, qkNorm: true, headDim: 128 });
    expect(resolveModel('tiny-qwen3')).toMatchObject({ qkNorm: true, headDim: 64, hiddenSize: 256, numHeads: 8 });
    expect(resolveModel('mistral-7b')).toMatchObject({ attentionBias: false, rope: { type: 'default', theta: 1e6 } });
  });

  it('lists presets with parameter counts', () => {
    const list = listPresets();
    expect(list.map((p) => p.name)).toEqual(presetNames());
    const byName = Object.fromEntries(list.map((p) => [p.name, p]));
    expect(byName['llama-3.1-8b']!.params / 1e9).toBeCloseTo(8.03, 2);
    expect(byName['llama-3.1-70b']!.params / 1e9).toBeCloseTo(70.55, 1);
    expect(byName['qwen2.5-7b']!.params / 1e9).toBeCloseTo(7.62, 2);
    expect(byName['qwen3-8b']!.params / 1e9).toBeCloseTo(8.19, 2);
    expect(byName['mistral-7b']!.params / 1e9).toBeCloseTo(7.25, 2);
    // tiny-llama is "a few MB" even in fp32.
    expect(byName['tiny-llama']!.params * 4).toBeLessThan(20e6);
  });
});

describe('normalizeConfig defaults', () => {
  it('derives head_dim and kv heads', () => {
    const c = { model_type: 'llama', vocab_size: 100, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 };
    const s = normalizeConfig(c);
    expect(s.headDim).toBe(16);
    expect(s.numKvHeads).toBe(4);
    expect(s.tieWordEmbeddings).toBe(false);
    expect(s.rmsNormEps).toBe(1e-6);
    expect(s.maxPositionEmbeddings).toBe(2048);
    expect(s.rope).toEqual({
      theta: 10000, type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPosition: 2048,
      betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 0,
    });
    expect(s.name).toBe('llama');
    expect(normalizeConfig({ ...c, head_dim: null, num_key_value_heads: null }).headDim).toBe(16);
  });

  it('ignores mistral sliding_window and attention_bias (transformers has no bias there)', () => {
    const c = { ...(presetConfig('tiny-mistral') as object), sliding_window: 16, attention_bias: true };
    expect(normalizeConfig(c).attentionBias).toBe(false);
  });

  it('takes the name from _name_or_path or the option', () => {
    expect(normalizeConfig({ ...llama(), _name_or_path: 'meta/x' }).name).toBe('meta/x');
    expect(normalizeConfig(llama(), { name: 'y' }).name).toBe('y');
  });
});

describe('rope forms', () => {
  const base = { model_type: 'llama', vocab_size: 100, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 4096 };

  it('rope_parameters and rope_theta + rope_scaling give the same spec (llama3)', () => {
    const a = normalizeConfig(llama());
    const { rope_theta, rope_scaling, ...rest } = llama();
    const b = normalizeConfig({ ...rest, rope_parameters: { ...(rope_scaling as object), rope_theta } });
    expect(b).toEqual(a);
  });

  it('reads `type` as well as `rope_type`, and null scaling as default', () => {
    const a = normalizeConfig({ ...base, rope_theta: 1e6, rope_scaling: { type: 'linear', factor: 2 } });
    const b = normalizeConfig({ ...base, rope_parameters: { rope_type: 'linear', rope_theta: 1e6, factor: 2 } });
    expect(a.rope).toEqual(b.rope);
    expect(a.rope).toMatchObject({ type: 'linear', factor: 2, theta: 1e6 });
    const d1 = normalizeConfig({ ...base, rope_scaling: null });
    const d2 = normalizeConfig({ ...base, rope_parameters: { rope_type: 'default', rope_theta: 10000 } });
    expect(d1).toEqual(d2);
  });

  it('reads yarn with transformers defaults', () => {
    const s = normalizeConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } });
    expect(s.rope).toMatchObject({ type: 'yarn', factor: 4, originalMaxPosition: 4096, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 0 });
    const d = normalizeConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 40, original_max_position_embeddings: 4096, mscale: 1, mscale_all_dim: 1, beta_fast: 32, beta_slow: 1 } });
    expect(d.rope).toMatchObject({ mscale: 1, mscaleAllDim: 1, originalMaxPosition: 4096 });
  });

  it('refuses unknown rope types and incomplete llama3 scaling, naming the field', () => {
    const e = configError({ ...base, rope_scaling: { rope_type: 'dynamic', factor: 2 } });
    expect(e.field).toBe('rope_scaling.rope_type');
    expect(e.message).toContain('default, llama3, linear, yarn');
    const f = configError({ ...base, rope_parameters: { rope_type: 'llama3', rope_theta: 5e5, factor: 8, low_freq_factor: 1, high_freq_factor: 4 } });
    expect(f.field).toBe('rope_parameters.original_max_position_embeddings');
    expect(f.message).toContain('missing');
  });
});

describe('layers override', () => {
  it('replaces num_hidden_layers, more or fewer', () => {
    expect(resolveModel('llama-3.1-8b', { layers: 2 }).numLayers).toBe(2);
    expect(resolveModel('tiny-llama', { layers: 12 }).numLayers).toBe(12);
    expect(normalizeConfig(llama(), { layers: 1 }).numLayers).toBe(1);
  });

  it('applies to a ModelSpec too', () => {
    const s = resolveModel('tiny-llama');
    expect(resolveModel(s, { layers: 1 })).toEqual({ ...s, numLayers: 1 });
  });

  it.each([0, -1, 1.5, '2'])('refuses layers=%s', (layers) => {
    expect(() => resolveModel('tiny-llama', { layers: layers as number })).toThrow(InvalidArgumentError);
    expect(() => resolveModel('tiny-llama', { layers: layers as number })).toThrow(/^layers: .*positive integer/);
  });
});

describe('bad configs name the field', () => {
  it('missing field', () => {
    const { hidden_size: _, ...c } = llama();
    const e = configError(c);
    expect(e.field).toBe('hidden_size');
    expect(e.message).toBe("config field 'hidden_size' is missing (allowed: a positive integer)");
  });

  it('wrong type', () => {
    const e = configError({ ...llama(), num_attention_heads: '32' });
    expect(e.field).toBe('num_attention_heads');
    expect(e.message).toContain('"32"');
    expect(configError({ ...llama(), vocab_size: 10.5 }).field).toBe('vocab_size');
    expect(configError({ ...llama(), intermediate_size: 0 }).field).toBe('intermediate_size');
    expect(configError({ ...llama(), tie_word_embeddings: 'yes' }).field).toBe('tie_word_embeddings');
    expect(configError({ ...llama(), rms_norm_eps: -1 }).field).toBe('rms_norm_eps');
  });

  it('unsupported model_type lists the supported ones', () => {
    const e = configError({ ...llama(), model_type: 'gpt2' });
    expect(e.field).toBe('model_type');
    expect(e.message).toBe(`config field 'model_type' is "gpt2" (allowed: llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3)`);
    expect(configError({ ...llama(), model_type: undefined }).message).toContain('is missing');
  });

  it('heads not divisible by kv heads', () => {
    const e = configError({ ...llama(), num_key_value_heads: 5 });
    expect(e.field).toBe('num_key_value_heads');
    expect(e.message).toContain('a divisor of num_attention_heads (32)');
  });

  it('hidden not divisible by heads without head_dim; odd head_dim', () => {
    const { head_dim: _, ...c } = llama();
    expect(configError({ ...c, hidden_size: 4100 }).field).toBe('hidden_size');
    expect(configError({ ...llama(), head_dim: 127 }).field).toBe('head_dim');
    expect(configError({ ...c, hidden_size: 96, num_attention_heads: 32, num_key_value_heads: 8 }).field).toBe('head_dim');
  });

  it('refuses what the forward pass does not have', () => {
    expect(configError({ ...llama(), mlp_bias: true }).field).toBe('mlp_bias');
    expect(configError({ ...llama(), hidden_act: 'gelu' }).field).toBe('hidden_act');
    expect(configError({ ...llama(), attention_bias: true }).field).toBe('attention_bias');
  });

  it('refuses a non-object', () => {
    expect(() => normalizeConfig(null as unknown as object)).toThrow(InvalidConfigError);
  });
});

describe('resolveModel', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-spec-'));
  const folder = path.join(dir, 'my-model');
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'config.json'), JSON.stringify(presetConfig('tiny-qwen3')));
  writeFileSync(path.join(dir, 'broken.json'), '{ not json');

  it('reads a config.json path or its folder, named after the folder', () => {
    const a = resolveModel(path.join(folder, 'config.json'));
    const b = resolveModel(folder);
    expect(a).toEqual(b);
    expect(a.name).toBe('my-model');
    expect(a.modelType).toBe('qwen3');
  });

  it('takes a config object', () => {
    expect(resolveModel(presetConfig('tiny-llama') as object, { name: 't' })).toEqual(resolveModel('tiny-llama', { name: 't' }));
  });

  it('names the presets for an unknown model', () => {
    let e: unknown;
    try {
      resolveModel('nope');
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).field).toBe('model');
    for (const name of presetNames()) expect((e as Error).message).toContain(name);
  });

  it('reports a file that is not JSON', () => {
    expect(() => resolveModel(path.join(dir, 'broken.json'))).toThrow(InvalidConfigError);
  });
});

describe('toNative', () => {
  it('is the spec without its name, with a copied rope', () => {
    const s: ModelSpec = resolveModel('tiny-qwen2');
    const n = toNative(s);
    const { name: _, ...rest } = s;
    expect(n).toEqual(rest);
    expect(n.rope).not.toBe(s.rope);
  });
});
