import { describe, expect, it } from 'vitest';
import {
  biasParams,
  decodeStepCost,
  floorMs,
  kvBytesPerToken,
  layerMatmulParams,
  matmulParams,
  mbu,
  mfu,
  normParams,
  percentile,
  prefillCost,
  summarize,
  totalParams,
  weightBytesRead,
} from '../../lib/api/metrics.js';
import { normalizeConfig, resolveModel } from '../../lib/model/model-spec.js';

// A shape small enough to count by hand: hidden 8, 2 heads of 4 (q 8), 1 kv head (kv 4),
// intermediate 16, vocab 10, 2 layers.
const tiny = normalizeConfig({
  model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2,
  num_attention_heads: 2, num_key_value_heads: 1,
});

describe('parameter counts', () => {
  it('counts the linears of a layer', () => {
    // qkv 8×(8+4+4) = 128, o 8×8 = 64, gate_up 2×8×16 = 256, down 16×8 = 128
    expect(layerMatmulParams(tiny)).toEqual({ qkv: 128, o: 64, gateUp: 256, down: 128, total: 576 });
    expect(matmulParams(tiny)).toBe(2 * 576 + 80);
    expect(normParams(tiny)).toBe(2 * 16 + 8);
    expect(biasParams(tiny)).toBe(0);
    expect(totalParams(tiny)).toBe(80 + 2 * 576 + 40 + 80);
    expect(totalParams({ ...tiny, tieWordEmbeddings: true })).toBe(80 + 2 * 576 + 40);
  });

  it('counts qwen2 biases and qwen3 q/k norms', () => {
    expect(biasParams({ ...tiny, attentionBias: true })).toBe(2 * 16);
    expect(normParams({ ...tiny, qkNorm: true })).toBe(2 * (16 + 8) + 8);
  });

  it('Llama 3.1 8B has 8.03B parameters, 7.50B of them in GEMMs', () => {
    const s = resolveModel('llama-3.1-8b');
    expect(totalParams(s)).toBe(8_030_261_248);
    expect(matmulParams(s)).toBe(7_504_658_432);
  });
});

describe('decode step', () => {
  it('matches a hand count', () => {
    // B 3, ctx 5, bf16. flops: 2·3·1232 + 4·3·5·2·2·4 = 7392 + 960.
    const c = decodeStepCost(tiny, 3, 5, 2);
    expect(c.flops).toBe(2 * 3 * 1232 + 4 * 3 * 5 * 2 * 2 * 4);
    // bytes: (1232 matmul + 40 norms + 3·8 embedding rows)·2 + KV read 3·5·(2·2·1·4·2) + KV written 3·32
    expect(kvBytesPerToken(tiny, 2)).toBe(32);
    expect(c.bytes).toBe((1232 + 40 + 24) * 2 + 3 * 5 * 32 + 3 * 32);
  });

  it('reads no embedding rows when tied (the LM head is the table)', () => {
    const tied = { ...tiny, tieWordEmbeddings: true };
    expect(weightBytesRead(tied, 3, 4)).toBe((1232 + 40) * 4);
    expect(weightBytesRead(tiny, 3, 4)).toBe((1232 + 40 + 24) * 4);
  });

  it('Llama 3.1 8B at batch 1, context 1024, bf16 reads 15.14 GB', () => {
    const c = decodeStepCost(resolveModel('llama-3.1-8b'), 1, 1024, 2);
    expect(Math.abs(c.bytes / 15.14e9 - 1)).toBeLessThan(0.005);
    expect(c.bytes).toBe(15_144_206_336);
    // About 5.0 ms at 3.0 TB/s; memory bound by far at batch 1.
    const floor = floorMs(c, { bytesPerS: 3.0e12, flopsPerS: 787e12 });
    expect(floor).toBeCloseTo(5.05, 2);
  });

  it('uses 4 bytes per element for the fp32 CPU backend', () => {
    const s = resolveModel('tiny-llama');
    const bf16 = decodeStepCost(s, 2, 64, 2);
    const f32 = decodeStepCost(s, 2, 64, 4);
    expect(f32.bytes).toBe(2 * bf16.bytes);
    expect(f32.flops).toBe(bf16.flops);
  });
});

describe('prefill', () => {
  it('matches a hand count', () => {
    // B 2, L 3: 2·6·1152 (layers) + 2·2·80 (LM head, last token) + 2·2·9·2·2·4 (causal attention)
    const c = prefillCost(tiny, 2, 3, 2);
    expect(c.flops).toBe(2 * 6 * 1152 + 2 * 2 * 80 + 2 * 2 * 9 * 2 * 2 * 4);
    // weights + 6 embedding rows, KV of 6 tokens written and read once
    expect(c.bytes).toBe((1232 + 40 + 48) * 2 + 2 * 6 * 32);
  });

  it('is compute bound for Llama 3.1 8B at 1×4096', () => {
    const c = prefillCost(resolveModel('llama-3.1-8b'), 1, 4096, 2);
    const peaks = { bytesPerS: 3.0e12, flopsPerS: 787e12 };
    expect(floorMs(c, peaks)).toBeCloseTo((c.flops / peaks.flopsPerS) * 1000, 9);
    expect(c.flops).toBe(2 * 4096 * 6_979_321_856 + 2 * 525_336_576 + 2 * 4096 * 4096 * 32 * 32 * 128); // 61.6 TFLOP
  });
});

describe('floor, MFU, MBU', () => {
  it('takes the larger of the compute and memory times', () => {
    expect(floorMs({ flops: 2e12, bytes: 1e9 }, { flopsPerS: 1e15, bytesPerS: 1e12 })).toBeCloseTo(2, 12);
    expect(floorMs({ flops: 2e9, bytes: 3e9 }, { flopsPerS: 1e15, bytesPerS: 1e12 })).toBeCloseTo(3, 12);
  });

  it('are achieved rates over peaks', () => {
    expect(mfu(1e12, 2, 1e15)).toBeCloseTo(0.5, 12);
    expect(mbu(1.5e9, 1, 3e12)).toBeCloseTo(0.5, 12);
  });
});

describe('stats', () => {
  it('summarizes as numpy does (linear percentiles, population stddev)', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toMatchObject({ count: 4, median: 2.5, mean: 2.5, min: 1, max: 4, stddev: Math.sqrt(1.25) });
    expect(s.p99).toBeCloseTo(3.97, 12);
    expect(s.p90).toBeCloseTo(3.7, 12);
  });

  it('handles one value and odd counts', () => {
    expect(summarize([7])).toMatchObject({ median: 7, p90: 7, p99: 7, stddev: 0 });
    expect(summarize([5, 1, 3]).median).toBe(3);
    expect(percentile([0, 10], 0.25)).toBe(2.5);
  });

  it('refuses an empty list', () => {
    expect(() => summarize([])).toThrow(RangeError);
  });
});
