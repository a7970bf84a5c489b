// The cost model (lib/api/metrics.ts) for MLA and MTP: the MLA cost (a cache row of kv_lora + rope per
// token and layer; attention flops per row and layer 2·ctx·H·(2·kv_lora + rope) absorbed, 2·ctx·H·(nope
// + rope + v) decompressed, the form the prefill ran in), an MTP step's verification of 1 + K rows per
// request and the MTP module's drafts; and the accepted tokens per step and the MLA forms in results,
// throughput, tables, JSONL and CSV.
import { describe, expect, it } from 'vitest';
import { FAKE_CPU } from './fake-addon.js';
import {
  attnFlopsPerToken, decodeStepCost, floorMs, kvBytesPerToken, layerMatmulParams, matmulParams, mtpParams, normParams, prefillCost,
} from '../../lib/api/metrics.js';
import { resolveModel, type ModelSpec } from '../../lib/model/model-spec.js';
import { buildPointResult, type RunContext } from '../../lib/api/result.js';
import { toJsonlLine } from '../../lib/report/jsonl.js';
import { csvHeader, toCsvLine } from '../../lib/report/csv.js';
import { formatTables } from '../../lib/report/table.js';
import type { NativePointResult } from '../../lib/bridge/native.js';
import type { MtpAccept } from '../../lib/model/mtp.js';
import type { MlaForm } from '../../lib/model/mla-spec.js';

// Hidden 8, 2 heads; MLA: q direct, kv_lora 4, nope 2, rope 2, v 3; vocab 10; layer 0 dense (width 10),
// layer 1 MoE: 4 experts of width 3, top-2, a shared expert of width 3; one MTP layer.
const tiny: ModelSpec = {
  name: 'tiny-mla', modelType: 'deepseek_v3', vocabSize: 10, hiddenSize: 8, intermediateSize: 10, numLayers: 2,
  numHeads: 2, numKvHeads: 2, headDim: 4, rmsNormEps: 1e-6, tieWordEmbeddings: false, attentionBias: false, qkNorm: false,
  maxPositionEmbeddings: 64, rope: resolveModel('tiny-llama').rope,
  moe: {
    numExperts: 4, topK: 2, expertIntermediateSize: 3, sharedIntermediateSize: 3, sharedExpertGate: false, normTopkProb: true,
    scoring: 'softmax', topkMethod: 'greedy', nGroup: 1, topkGroup: 1, routedScalingFactor: 1, layerIsMoe: [false, true],
  },
  mla: { qLoraRank: 0, kvLoraRank: 4, qkNopeHeadDim: 2, qkRopeHeadDim: 2, vHeadDim: 3 },
  mtpLayers: 1,
};
// Attention: q 8·2·4 = 64, kv_a 8·6 = 48, kv_b 4·2·5 = 40, o 2·3·8 = 48 (200); dense MLP 240; router
// 32, expert 72, shared 72; LM head 80; norms 2·(16 + kv_a_layernorm 4) + 8 = 48. The MTP layer:
// eh_proj 128 + attention 200 + router 32 + top-2 experts 144 + shared 72 = 576 per token; its norms
// (enorm, hnorm, shared_head.norm and its layer's) 44.

describe('MLA and MTP cost model', () => {
  it('MLA layers: the projections, the cache row, the absorbed attention', () => {
    expect(layerMatmulParams(tiny)).toMatchObject({ qkv: 152, o: 48 });
    expect(matmulParams(tiny)).toBe(2 * 200 + 240 + (32 + 2 * 72 + 72) + 80);
    expect(normParams(tiny)).toBe(48);
    expect(kvBytesPerToken(tiny, 2)).toBe(2 * 6 * 2);
    expect(attnFlopsPerToken(tiny)).toBe(2 * 2 * (2 * 4 + 2));
    expect(attnFlopsPerToken(tiny, 'decompressed')).toBe(2 * 2 * (2 + 2 + 3));
    expect(mtpParams(tiny)).toBe(128 + 200 + 32 + 4 * 72 + 72 + 44);
  });

  it("a decode step reads every layer's latent cache once", () => {
    const c = decodeStepCost(tiny, 3, 5, 2);
    expect(c.flops).toBe(2 * 3 * 968 + 3 * 5 * 2 * 40);
    // Weights with all 4 experts hit, the norms and 3 embedding rows; KV read 3·5 tokens, written 3.
    expect(c.bytes).toBe((1112 + 48 + 24) * 2 + 3 * 5 * 24 + 3 * 24);
  });

  it('an MTP step: the verification of 1 + K rows, the MTP forward over them, K − 1 one-row drafts', () => {
    const c = decodeStepCost(tiny, 3, 5, 2, undefined, 2);
    const verify = { flops: 2 * 9 * 968 + 3 * (3 * 5 + 3) * 2 * 40, bytes: (1112 + 48 + 72) * 2 + 3 * 7 * 24 + 9 * 24 };
    const extend = { flops: 2 * 9 * 576 + 2 * 3 * 80 + 54 * 40, bytes: (720 + 44 + 80 + 72) * 2 + (21 + 9) * 12 };
    const draft2 = { flops: 2 * 3 * 576 + 2 * 3 * 80 + 18 * 40, bytes: (720 + 44 + 80 + 24) * 2 + (18 + 3) * 12 };
    expect(c).toEqual({ flops: verify.flops + extend.flops + draft2.flops, bytes: verify.bytes + extend.bytes + draft2.bytes });
  });

  it('a prefill counts the attention of the form it ran: decompressed by default, absorbed when asked', () => {
    const decompressed = prefillCost(tiny, 2, 6, 2);
    const absorbed = prefillCost(tiny, 2, 6, 2, undefined, 0, 'absorbed');
    // 2 prompts x 6² / 2 token pairs x 2 layers; the linear layers (kv_b_proj included) alike.
    expect(absorbed.flops - decompressed.flops).toBe((2 * 36 * 2 * (40 - 28)) / 2);
    expect(decompressed.flops).toBe(2 * 12 * (968 - 80) + 2 * 2 * 80 + (2 * 36 * 2 * 28) / 2);
    expect(absorbed.bytes).toBe(decompressed.bytes);
    expect(prefillCost(tiny, 2, 6, 2, undefined, 0, 'decompressed')).toEqual(decompressed);
  });

  it('DeepSeek-V2-Lite: decompressed prefill attention costs 3.4x fewer flops than absorbed', () => {
    const s = resolveModel('deepseek-v2-lite');
    expect(attnFlopsPerToken(s, 'decompressed')).toBe(2 * 16 * (128 + 64 + 128));
    expect(attnFlopsPerToken(s) / attnFlopsPerToken(s, 'decompressed')).toBeCloseTo(3.4, 1);
  });

  it('with MTP the prefill also runs the MTP module over the prompt, in the prefill form', () => {
    for (const [form, attn] of [['decompressed', 28], ['absorbed', 40]] as const) {
      const plain = prefillCost(tiny, 2, 6, 2, undefined, 0, form);
      const mtp = prefillCost(tiny, 2, 6, 2, undefined, 1, form);
      expect(mtp.flops - plain.flops).toBe(2 * 12 * 576 + 2 * 2 * 80 + (2 * 36 * attn) / 2);
    }
  });

  it('DeepSeek-V3: 70 KB of cache per token (61 layers × 576 bf16), 37B parameters per token', () => {
    const s = resolveModel('deepseek-v3');
    expect(kvBytesPerToken(s, 2)).toBe(61 * 576 * 2);
    expect(matmulParams(s) / 1e9).toBeCloseTo(36.62, 2);
  });
});

describe('MTP results and reports', () => {
  const ctx = (spec: ModelSpec, mtpDrafts: number, mtpAccept: MtpAccept = 'all'): RunContext => ({
    runName: 'r', spec, device: 'cpu', mode: 'both', seed: 42, peaks: { flopsPerS: 1e12, bytesPerS: 1e11 }, bytesPerElem: 4,
    profileDecodeSteps: 4, routing: 'balanced', mtpDrafts, mtpAccept,
    info: { device: 'cpu', deviceName: 'Test CPU', dtype: 'f32', weightBytes: 0, kvPoolTokens: 0, kvBytesPerToken: 0, blockSize: 16, weightInitMs: 0, deviceInfo: FAKE_CPU },
    provenance: null,
  });
  const raw = (acceptedTokens: number[], mlaPrefillForm: MlaForm | null = null): NativePointResult => ({
    waitingMs: 0.5, prefillMs: 8, decodeStepMs: [1, 1.1, 1.2], decodeContext: [17, 19, 22], acceptedTokens, firstRequestTokens: [],
    usedGraphs: false, profiledPrefill: [], profiledDecode: [], traceFiles: [], routing: 'balanced', expertCounts: [], telemetry: null, telemetryReason: 'no NVML: CPU device', kernelPaths: {},
    mlaPrefillForm, mlaDecodeForm: mlaPrefillForm ? 'absorbed' : null,
  });
  const point = { batchSize: 3, inputLen: 16, outputLen: 4 };
  const mtp = buildPointResult(ctx(tiny, 2, { rate: 0.5 }), point, raw([6, 9, 6]));

  it('counts the accepted tokens: per step, in decode throughput and in overall throughput', () => {
    expect(mtp.acceptedPerStep).toBeCloseTo(21 / 9, 12);
    expect(mtp.decodeTokPerS).toBeCloseTo((3 * (21 / 9)) / 0.0011, 6);
    // The prefill's token per request, then every emitted token.
    expect(mtp.overallTokPerS).toBeCloseTo((3 * 17 + 21) / ((8 + 3.3) / 1000), 6);
    expect(mtp.decodeFloorMs).toBeCloseTo(floorMs(decodeStepCost(tiny, 3, 19, 4, [], 2), mtp.peaks), 12);
    expect(mtp).toMatchObject({ mtpDrafts: 2, mtpAccept: 'rate:0.5' });
  });

  it('without MTP there is no accepted count, and throughput is B per step', () => {
    const plain = buildPointResult(ctx(resolveModel('tiny-llama'), 0), point, raw([3, 3, 3]));
    expect(plain.acceptedPerStep).toBeNull();
    expect(plain.decodeTokPerS).toBeCloseTo(3 / 0.0011, 6);
    expect(plain).toMatchObject({ mtpDrafts: 0, mtpAccept: null });
  });

  it('JSONL, CSV and the decode table carry the drafts, the acceptance and the accepted tokens per step', () => {
    expect(JSON.parse(toJsonlLine(mtp))).toMatchObject({ mtp_drafts: 2, mtp_accept: 'rate:0.5', accepted_per_step: 21 / 9 });
    const header = csvHeader().split(',');
    const cells = toCsvLine(mtp).split(',');
    expect(cells[header.indexOf('mtp_accept')]).toBe('rate:0.5');
    expect(Number(cells[header.indexOf('accepted_per_step')])).toBeCloseTo(21 / 9, 12);
    const table = formatTables([mtp]);
    expect(table).toContain('Accepted/Step');
    expect(table).toMatch(/2\/rate:0\.5 +│ 2\.33/);
    const plain = buildPointResult(ctx(resolveModel('tiny-llama'), 0), point, raw([3, 3, 3]));
    expect(JSON.parse(toJsonlLine(plain))).toMatchObject({ mtp_drafts: 0, mtp_accept: null, accepted_per_step: null });
    expect(formatTables([plain])).not.toContain('Accepted/Step');
  });

  it('the prefill floor counts the MLA form that ran, and the result, JSONL and CSV name both forms', () => {
    for (const form of ['decompressed', 'absorbed'] as const) {
      const r = buildPointResult(ctx(tiny, 0), point, raw([3, 3, 3], form));
      expect(r).toMatchObject({ mlaPrefillForm: form, mlaDecodeForm: 'absorbed' });
      expect(r.prefillFloorMs).toBeCloseTo(floorMs(prefillCost(tiny, 3, 16, 4, undefined, 0, form), r.peaks), 12);
      expect(JSON.parse(toJsonlLine(r))).toMatchObject({ mla_prefill_form: form, mla_decode_form: 'absorbed' });
      const header = csvHeader().split(',');
      expect(toCsvLine(r).split(',')[header.indexOf('mla_prefill_form')]).toBe(form);
    }
    const plain = buildPointResult(ctx(resolveModel('tiny-llama'), 0), point, raw([3, 3, 3]));
    expect(JSON.parse(toJsonlLine(plain))).toMatchObject({ mla_prefill_form: null, mla_decode_form: null });
  });
});
