// MoE configs (mixtral, qwen2_moe, qwen3_moe) normalized as transformers builds them: the expert
// fields, the layer mix, the attention flags, and a bad field named in a one-line error.
import { describe, expect, it } from 'vitest';
import { normalizeConfig, resolveModel } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { presetConfig } from '../../lib/model/presets.js';
import { configError } from './config-error.js';

const preset = (name: string) => presetConfig(name) as Record<string, unknown>;


describe('MoE presets', () => {
  it('mixtral-8x7b: 8 experts of width intermediate_size, top-2 renormalized, every layer MoE', () => {
    const s = resolveModel('mixtral-8x7b');
    expect(s).toMatchObject({ modelType: 'mixtral', hiddenSize: 4096, numLayers: 32, numKvHeads: 8, attentionBias: false, qkNorm: false });
    expect(s.moe).toMatchObject({
      numExperts: 8, topK: 2, expertIntermediateSize: 14336, sharedIntermediateSize: 0, sharedExpertGate: false,
      normTopkProb: true, scoring: 'softmax', topkMethod: 'greedy', routedScalingFactor: 1,
    });
    expect(s.moe!.layerIsMoe).toEqual(Array(32).fill(true));
  });

  it('qwen3-30b-a3b: 128 experts, top-8, q/k norm, norm_topk_prob', () => {
    const s = resolveModel('qwen3-30b-a3b');
    expect(s).toMatchObject({ modelType: 'qwen3_moe', qkNorm: true, attentionBias: false, headDim: 128, intermediateSize: 6144 });
    expect(s.moe).toMatchObject({ numExperts: 128, topK: 8, expertIntermediateSize: 768, sharedIntermediateSize: 0, normTopkProb: true });
  });

  it('qwen2-57b-a14b: shared expert behind its gate, qkv bias, raw top-k weights', () => {
    const s = resolveModel('qwen2-57b-a14b');
    expect(s).toMatchObject({ modelType: 'qwen2_moe', attentionBias: true, qkNorm: false });
    expect(s.moe).toMatchObject({ numExperts: 64, topK: 8, expertIntermediateSize: 2560, sharedIntermediateSize: 20480, sharedExpertGate: true, normTopkProb: false });
  });

  it('tiny-qwen2-moe mixes dense and MoE layers (decoder_sparse_step 2)', () => {
    expect(resolveModel('tiny-qwen2-moe').moe!.layerIsMoe).toEqual([false, true, false, true]);
  });
});

describe('MoE config fields', () => {
  it('decoder_sparse_step and mlp_only_layers decide the layer mix, as transformers does', () => {
    const c = { ...preset('qwen3-30b-a3b'), num_hidden_layers: 6, decoder_sparse_step: 2, mlp_only_layers: [3] };
    expect(normalizeConfig(c).moe!.layerIsMoe).toEqual([false, true, false, false, false, true]);
  });

  it('--layers applies the rule to the new layer count', () => {
    const s = resolveModel('tiny-qwen2-moe', { layers: 7 });
    expect(s.moe!.layerIsMoe).toEqual([false, true, false, true, false, true, false]);
    // A normalized spec object has no rule: it can be cut, not extended.
    expect(resolveModel(s, { layers: 3 }).moe!.layerIsMoe).toEqual([false, true, false]);
    expect(() => resolveModel(s, { layers: 9 })).toThrow(/more than the 7 layers/);
  });

  it('qwen3_moe reads num_local_experts, the name transformers 5 saves num_experts under', () => {
    const { num_experts: _, ...c } = preset('qwen3-30b-a3b');
    expect(normalizeConfig({ ...c, num_local_experts: 64 }).moe!.numExperts).toBe(64);
    const e = configError({ ...c, num_experts: 64, num_local_experts: 32 });
    expect(e.field).toBe('num_local_experts');
    expect(e.message).toContain('equal to its alias num_experts (64)');
  });

  it('absent fields take transformers defaults (qwen2_moe: 60 experts, top-4, qkv bias)', () => {
    const s = normalizeConfig({ model_type: 'qwen2_moe', vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 2 });
    expect(s.moe).toMatchObject({ numExperts: 60, topK: 4, expertIntermediateSize: 1408, sharedIntermediateSize: 5632, normTopkProb: false });
    expect(s.attentionBias).toBe(true);
    expect(normalizeConfig({ ...preset('tiny-qwen2-moe'), qkv_bias: false }).attentionBias).toBe(false);
  });

  it('toNative passes the moe section (a copy); dense models have none', () => {
    const s = resolveModel('tiny-mixtral');
    const n = toNative(s);
    expect(n.moe).toEqual(s.moe);
    expect(n.moe!.layerIsMoe).not.toBe(s.moe!.layerIsMoe);
    expect(toNative(resolveModel('tiny-llama')).moe).toBeUndefined();
    expect(resolveModel('tiny-llama').moe).toBeUndefined();
  });

  it.each([
    ['num_experts_per_tok', { num_experts_per_tok: 9 }, 'a positive integer <= the number of experts (8)'],
    ['num_local_experts', { num_local_experts: 0 }, 'a positive integer'],
    ['num_experts_per_tok', { num_experts_per_tok: 'two' }, 'a positive integer'],
  ])('mixtral: bad %s is named', (field, over, allowed) => {
    const e = configError({ ...preset('tiny-mixtral'), ...over });
    expect(e.field).toBe(field);
    expect(e.message).toBe(`config field '${field}' is ${JSON.stringify(Object.values(over)[0])} (allowed: ${allowed})`);
  });

  it.each([
    ['num_experts', { num_experts: -2 }],
    ['moe_intermediate_size', { moe_intermediate_size: 1.5 }],
    ['shared_expert_intermediate_size', { shared_expert_intermediate_size: 0 }],
    ['decoder_sparse_step', { decoder_sparse_step: 0 }],
    ['mlp_only_layers', { mlp_only_layers: [1, -1] }],
    ['mlp_only_layers', { mlp_only_layers: 'all' }],
    ['norm_topk_prob', { norm_topk_prob: 'yes' }],
    ['qkv_bias', { qkv_bias: 1 }],
  ])('qwen2_moe: bad %s is named', (field, over) => {
    expect(configError({ ...preset('tiny-qwen2-moe'), ...over }).field).toBe(field);
  });

  it('qwen3_moe refuses attention_bias (a bias on o_proj) like qwen3', () => {
    expect(configError({ ...preset('tiny-qwen3-moe'), attention_bias: true }).field).toBe('attention_bias');
  });
});
