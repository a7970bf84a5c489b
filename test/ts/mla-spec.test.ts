// DeepSeek-V2/V3 configs normalized as transformers builds them: MLA, the DeepSeek MoE and its layer
// mix, MTP, the fields MLA ignores, and a bad field named in a one-line error.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizeConfig, resolveModel } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { presetConfig } from '../../lib/model/presets.js';
import { mtpParams, totalParams } from '../../lib/api/metrics.js';
import { FIXTURES_DIR } from '../golden/fixtures.js';
import { configError } from './config-error.js';

const preset = (name: string) => presetConfig(name) as Record<string, unknown>;
const fixture = (name: string) => JSON.parse(readFileSync(path.join(FIXTURES_DIR, name, 'config.json'), 'utf8'));


describe('DeepSeek presets', () => {
  it('deepseek-v2-lite: q projected directly, 64 experts top-6 with 2 shared, layer 0 dense, 15.7B parameters', () => {
    const s = resolveModel('deepseek-v2-lite');
    expect(s).toMatchObject({ modelType: 'deepseek_v2', numLayers: 27, numHeads: 16, numKvHeads: 16, headDim: 192 });
    expect(s.mla).toEqual({ qLoraRank: 0, kvLoraRank: 512, qkNopeHeadDim: 128, qkRopeHeadDim: 64, vHeadDim: 128 });
    expect(s.moe).toMatchObject({
      numExperts: 64, topK: 6, expertIntermediateSize: 1408, sharedIntermediateSize: 2816, sharedExpertGate: false,
      normTopkProb: false, scoring: 'softmax', topkMethod: 'greedy', routedScalingFactor: 1,
    });
    expect(s.moe!.layerIsMoe).toEqual([false, ...Array(26).fill(true)]);
    expect(s.rope).toMatchObject({ type: 'yarn', factor: 40, mscale: 0.707, mscaleAllDim: 0.707, originalMaxPosition: 4096 });
    expect(s.mtpLayers).toBeUndefined();
    expect(totalParams(s) / 1e9).toBeCloseTo(15.71, 2);
  });

  it('deepseek-v3: q LoRA, 256 experts top-8 noaux_tc in 8 groups, 3 dense layers, 1 MTP layer; 671B + 11.6B of MTP', () => {
    const s = resolveModel('deepseek-v3');
    expect(s.mla).toEqual({ qLoraRank: 1536, kvLoraRank: 512, qkNopeHeadDim: 128, qkRopeHeadDim: 64, vHeadDim: 128 });
    expect(s.moe).toMatchObject({
      numExperts: 256, topK: 8, expertIntermediateSize: 2048, sharedIntermediateSize: 2048, normTopkProb: true,
      scoring: 'sigmoid', topkMethod: 'noaux_tc', nGroup: 8, topkGroup: 4, routedScalingFactor: 2.5,
    });
    expect(s.moe!.layerIsMoe.slice(0, 4)).toEqual([false, false, false, true]);
    expect(s.mtpLayers).toBe(1);
    expect(totalParams(s) / 1e9).toBeCloseTo(671.03, 2);
    expect(mtpParams(s) / 1e9).toBeCloseTo(11.61, 2);
  });

  it('--layers keeps first_k_dense_replace and the MTP layer', () => {
    const s = resolveModel('deepseek-v3', { layers: 5 });
    expect(s.moe!.layerIsMoe).toEqual([false, false, false, true, true]);
    expect(s.mtpLayers).toBe(1);
  });

  it('toNative passes the mla section (a copy) and mtpLayers; other models have neither', () => {
    const s = resolveModel('tiny-deepseek-v3');
    const n = toNative(s);
    expect(n.mla).toEqual(s.mla);
    expect(n.mla).not.toBe(s.mla);
    expect(n.mtpLayers).toBe(1);
    expect(toNative(resolveModel('tiny-deepseek-v2')).mtpLayers).toBeUndefined();
    expect(toNative(resolveModel('tiny-mixtral')).mla).toBeUndefined();
  });
});

describe('DeepSeek config fields', () => {
  it("reads transformers 5's saved configs (rope_parameters); head_dim and num_key_value_heads do not describe MLA", () => {
    const v2 = normalizeConfig(fixture('deepseek_v2'));
    expect(v2).toMatchObject({ headDim: 24, numKvHeads: 4, mla: { qLoraRank: 0, kvLoraRank: 32, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 12 } });
    expect(v2.moe).toMatchObject({ topkMethod: 'group_limited_greedy', nGroup: 2, topkGroup: 1, routedScalingFactor: 16, sharedIntermediateSize: 64 });
    expect(v2.rope).toMatchObject({ type: 'yarn', factor: 40, mscale: 0.707, mscaleAllDim: 1, originalMaxPosition: 64 });
    const v3 = normalizeConfig({ ...fixture('deepseek_v3'), num_key_value_heads: 1, head_dim: 7 });
    expect(v3).toMatchObject({ headDim: 24, numKvHeads: 4, mtpLayers: 1, mla: { qLoraRank: 48 } });
    expect(v3.moe).toMatchObject({ scoring: 'sigmoid', topkMethod: 'noaux_tc', normTopkProb: true, layerIsMoe: [false, true, true] });
  });

  it("deepseek_v2 never renormalizes the top-k weights (transformers' V2 ignores norm_topk_prob)", () => {
    expect(normalizeConfig({ ...preset('tiny-deepseek-v2'), norm_topk_prob: true }).moe!.normTopkProb).toBe(false);
  });

  it('num_nextn_predict_layers and its alias num_mtp_layers; transformers defaults to 1, deepseek_v2 has none', () => {
    const { num_nextn_predict_layers: _, ...v3 } = preset('tiny-deepseek-v3');
    expect(normalizeConfig(v3).mtpLayers).toBe(1);
    expect(normalizeConfig({ ...v3, num_mtp_layers: 2 }).mtpLayers).toBe(2);
    expect(normalizeConfig({ ...v3, num_nextn_predict_layers: 0 }).mtpLayers).toBeUndefined();
    expect(configError({ ...v3, num_nextn_predict_layers: 1, num_mtp_layers: 2 }).field).toBe('num_mtp_layers');
  });

  it('rope_interleave false is refused naming the field', () => {
    const e = configError({ ...preset('tiny-deepseek-v3'), rope_interleave: false });
    expect(e.field).toBe('rope_interleave');
    expect(e.message).toBe("config field 'rope_interleave' is false (allowed: true (DeepSeek's interleaved rotary pairs; false is not supported))");
  });

  it.each([
    ['attention_bias', { attention_bias: true }],
    ['qk_rope_head_dim', { qk_rope_head_dim: 7 }],
    ['kv_lora_rank', { kv_lora_rank: 0 }],
    ['q_lora_rank', { q_lora_rank: 1.5 }],
    ['v_head_dim', { v_head_dim: -1 }],
    ['num_experts_per_tok', { num_experts_per_tok: null }],
    ['topk_method', { topk_method: 'random' }],
    ['scoring_func', { scoring_func: 'relu' }],
    ['routed_scaling_factor', { routed_scaling_factor: 0 }],
    ['first_k_dense_replace', { first_k_dense_replace: -1 }],
    ['n_shared_experts', { n_shared_experts: 'two' }],
  ])('bad %s is named', (field, over) => {
    expect(configError({ ...preset('tiny-deepseek-v2'), ...over }).field).toBe(field);
  });
});
