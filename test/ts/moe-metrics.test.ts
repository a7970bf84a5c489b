// The cost model (lib/api/metrics.ts) for MoE models: flops count the experts actually routed (top_k per token, the
// router and the shared expert); bytes read only the experts that receive a token, taken from the
// result's expert counts when present, else the balanced coverage min(E, tokens · top_k). And the
// routing policy and expert counts in results, tables, JSONL and CSV.
import { describe, expect, it } from 'vitest';
import { FAKE_CPU } from './fake-addon.js';
import {
  decodeStepCost, expertsHit, floorMs, layerKinds, matmulParams, moeLayerParams, prefillCost, totalParams, weightBytesRead,
} from '../../lib/api/metrics.js';
import { resolveModel, type ModelSpec } from '../../lib/model/model-spec.js';
import { buildPointResult, failedPoint, type RunContext } from '../../lib/api/result.js';
import { toJsonlLine } from '../../lib/report/jsonl.js';
import { toCsvLine, csvHeader } from '../../lib/report/csv.js';
import { formatTables } from '../../lib/report/table.js';
import type { NativePointResult } from '../../lib/bridge/native.js';

// Hidden 8, 2 heads of 4 (1 KV head), vocab 10; layer 0 dense (width 10), layer 1 MoE: 4 experts of
// width 3, top-2, a shared expert of width 5 with its gate.
const tiny: ModelSpec = {
  name: 'tiny-moe', modelType: 'qwen2_moe', vocabSize: 10, hiddenSize: 8, intermediateSize: 10, numLayers: 2,
  numHeads: 2, numKvHeads: 1, headDim: 4, rmsNormEps: 1e-6, tieWordEmbeddings: false, attentionBias: false, qkNorm: false,
  maxPositionEmbeddings: 64, rope: resolveModel('tiny-llama').rope,
  moe: {
    numExperts: 4, topK: 2, expertIntermediateSize: 3, sharedIntermediateSize: 5, sharedExpertGate: true, normTopkProb: false,
    scoring: 'softmax', topkMethod: 'greedy', nGroup: 1, topkGroup: 1, routedScalingFactor: 1, layerIsMoe: [false, true],
  },
};
// Per layer: attention qkv 8·16 + o 8·8 = 192; dense MLP 3·8·10 = 240; router 4·8 = 32,
// one expert 3·8·3 = 72, shared 3·8·5 + 8 = 128; LM head 80; norms 2·2·8 + 8 = 40.

describe('MoE cost model', () => {
  it('splits the layers and counts each MoE part', () => {
    expect(layerKinds(tiny)).toEqual({ moe: 1, dense: 1 });
    expect(moeLayerParams(tiny)).toEqual({ router: 32, expert: 72, shared: 128 });
  });

  it('flops use top_k experts per token (plus the router and the shared expert)', () => {
    expect(matmulParams(tiny)).toBe(2 * 192 + 240 + (32 + 2 * 72 + 128) + 80);
    const c = decodeStepCost(tiny, 3, 5, 2);
    expect(c.flops).toBe(2 * 3 * 1008 + 4 * 3 * 5 * 2 * 2 * 4);
    expect(prefillCost(tiny, 2, 3, 2).flops).toBe(2 * 6 * (1008 - 80) + 2 * 2 * 80 + 2 * 2 * 9 * 2 * 2 * 4);
  });

  it('every expert counts in the parameter total', () => {
    expect(totalParams(tiny)).toBe(80 + 2 * 192 + 240 + (32 + 4 * 72 + 128) + 40 + 80);
  });

  it('bytes read only the experts hit: balanced coverage min(E, tokens·top_k), or the measured counts', () => {
    expect(expertsHit(tiny, 1)).toBe(2);
    expect(expertsHit(tiny, 3)).toBe(4);
    expect(expertsHit(tiny, 3, [5, 0, 1, 0])).toBe(2);
    expect(expertsHit(resolveModel('tiny-llama'), 3)).toBe(0);
    const base = 2 * 192 + 240 + 32 + 128 + 80 + 40;
    expect(weightBytesRead(tiny, 1, 4)).toBe((base + 2 * 72 + 8) * 4);
    expect(weightBytesRead(tiny, 3, 4)).toBe((base + 4 * 72 + 24) * 4);
    expect(weightBytesRead(tiny, 3, 4, 2)).toBe((base + 2 * 72 + 24) * 4);
    const kv = 2 * 2 * 1 * 4 * 2; // layers · (K, V) · kv heads · head_dim · bf16
    expect(decodeStepCost(tiny, 3, 5, 2, [5, 0, 1, 0]).bytes).toBe((base + 2 * 72 + 24) * 2 + 3 * 5 * kv + 3 * kv);
  });

  it('Mixtral 8x7B at batch 1 reads 2 of 8 experts per layer: about 12.75B of its 46.7B parameters', () => {
    const s = resolveModel('mixtral-8x7b');
    expect(totalParams(s) / 1e9).toBeCloseTo(46.70, 2);
    expect(matmulParams(s) / 1e9).toBeCloseTo(12.75, 2);
    expect(weightBytesRead(s, 1, 2) / 2 / 1e9).toBeCloseTo(12.75, 2); // + norms and one embedding row
    expect(totalParams(resolveModel('qwen3-30b-a3b')) / 1e9).toBeCloseTo(30.53, 2);
    expect(totalParams(resolveModel('qwen2-57b-a14b')) / 1e9).toBeCloseTo(57.41, 2);
  });
});

describe('MoE results and reports', () => {
  const ctx = (spec: ModelSpec): RunContext => ({
    runName: 'r', spec, device: 'cpu', mode: 'both', seed: 42, peaks: { flopsPerS: 1e12, bytesPerS: 1e11 }, bytesPerElem: 4,
    profileDecodeSteps: 4, routing: 'zipf:1.2', mtpDrafts: 0, mtpAccept: 'all',
    info: { device: 'cpu', deviceName: 'Test CPU', dtype: 'f32', weightBytes: 0, kvPoolTokens: 0, kvBytesPerToken: 0, blockSize: 16, weightInitMs: 0, deviceInfo: FAKE_CPU },
    provenance: null,
  });
  const raw = (expertCounts: number[]): NativePointResult => ({
    waitingMs: 0.5, prefillMs: 8, decodeStepMs: [1, 1.1, 1.2], decodeContext: [17, 18, 19], acceptedTokens: [3, 3, 3],
    firstRequestTokens: [], usedGraphs: false,
    profiledPrefill: [], profiledDecode: [], traceFiles: [], routing: 'zipf:1.2', expertCounts, telemetry: null, telemetryReason: 'no NVML: CPU device', kernelPaths: {}, mlaPrefillForm: null, mlaDecodeForm: null,
  });
  const point = { batchSize: 3, inputLen: 16, outputLen: 4 };
  const moe = buildPointResult(ctx(tiny), point, raw([5, 0, 1, 0]));

  it('carries the policy and the counts; the decode floor reads the experts the counts hit', () => {
    expect(moe.routing).toBe('zipf:1.2');
    expect(moe.expertCounts).toEqual([5, 0, 1, 0]);
    expect(moe.decodeFloorMs).toBeCloseTo(floorMs(decodeStepCost(tiny, 3, 18, 4, [5, 0, 1, 0]), moe.peaks), 12);
    // The counts are of the first decode step: the prefill assumes the balanced coverage.
    expect(moe.prefillFloorMs).toBeCloseTo(floorMs(prefillCost(tiny, 3, 16, 4), moe.peaks), 12);
  });

  it('JSONL and CSV name the policy and list the counts; dense models have null there', () => {
    const rec = JSON.parse(toJsonlLine(moe));
    expect(rec).toMatchObject({ moe_routing: 'zipf:1.2', expert_counts: [5, 0, 1, 0] });
    const header = csvHeader().split(',');
    const cells = toCsvLine(moe).split(',');
    expect(cells[header.indexOf('moe_routing')]).toBe('zipf:1.2');
    expect(cells[header.indexOf('expert_counts')]).toBe('5;0;1;0');
    const dense = JSON.parse(toJsonlLine(buildPointResult(ctx(resolveModel('tiny-llama')), point, raw([]))));
    expect(dense).toMatchObject({ moe_routing: null, expert_counts: null });
    const failed = JSON.parse(toJsonlLine(failedPoint(ctx(tiny), point, [], 'ERR_DOES_NOT_FIT', 'no room')));
    expect(failed.moe_routing).toBe('zipf:1.2');
  });

  it('tables add the policy and the experts hit for MoE runs only', () => {
    const t = formatTables([moe]);
    expect(t).toContain('MoE Routing');
    expect(t).toContain('2/4');
    expect(formatTables([buildPointResult(ctx(resolveModel('tiny-llama')), point, raw([]))])).not.toContain('MoE Routing');
  });
});
