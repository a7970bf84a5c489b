// The collectives of a parallel forward and their time at a bus bandwidth (lib/api/comm-cost.ts),
// checked by hand against nccl-tests' definition of bus bandwidth, and a result that carries them.
import { describe, expect, it } from 'vitest';
import { busFactor, collectiveSeconds, commCost, forwardCollectives, parallelFloorMs } from '../../lib/api/comm-cost.js';
import { layoutOf, shardSpec } from '../../lib/api/layout.js';
import { decodeStepCost, floorMs } from '../../lib/api/metrics.js';
import { buildPointResult, type RunContext } from '../../lib/api/result.js';
import type { NativePointResult } from '../../lib/bridge/native.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { toRecord } from '../../lib/report/fields.js';
import { formatTables } from '../../lib/report/table.js';

const layout = (tp: number, ep = 1, dp = 1) => layoutOf({ tp, ep, dp });

describe('bus bandwidth (nccl-tests)', () => {
  it('all-reduce moves 2(n-1)/n of its size per rank; all-gather and reduce-scatter (n-1)/n of the whole', () => {
    expect(busFactor('all_reduce', 8)).toBe(1.75);
    expect(busFactor('all_gather', 8)).toBe(0.875);
    expect(busFactor('reduce_scatter', 4)).toBe(0.75);
    expect(busFactor('all_reduce', 1)).toBe(0);
    // 1 GB all-reduced over 8 ranks at 350 GB/s: 1e9 · 1.75 / 350e9 = 5 ms.
    expect(collectiveSeconds('all_reduce', 1e9, 8, 350e9)).toBeCloseTo(0.005, 12);
    expect(collectiveSeconds('all_gather', 1e9, 2, 100e9)).toBeCloseTo(0.005, 12);
  });
});

describe('collectives of a forward', () => {
  const llama70 = resolveModel('llama-3.1-70b'); // hidden 8192, 80 layers

  it('TP: two all-reduces of tokens × hidden per layer', () => {
    const calls = forwardCollectives(llama70, layout(8), 4, 2);
    expect(calls.map((c) => [c.name, c.bytes, c.ranks, c.calls])).toEqual([
      ['all_reduce.o_proj', 4 * 8192 * 2, 8, 80],
      ['all_reduce.mlp', 4 * 8192 * 2, 8, 80],
    ]);
    // 160 all-reduces of 64 KiB over 8 ranks at 400 GB/s.
    const c = commCost(calls, 400e9);
    expect(c.bytes).toBe(160 * 65536);
    expect(c.ms).toBeCloseTo((160 * 65536 * 1.75) / 400e9 * 1000, 12);
    expect(commCost(calls, null).ms).toBeNull();
  });

  it('a dense model’s DP ranks are replicas: nothing moves', () => {
    expect(forwardCollectives(llama70, layout(1, 1, 4), 4, 2)).toEqual([]);
  });

  it('EP (its ranks are the TP ranks): the MoE output is all-reduced', () => {
    const qwen = resolveModel('qwen3-30b-a3b'); // hidden 2048, 48 layers
    const calls = forwardCollectives(qwen, layout(4, 4), 8, 2);
    expect(calls.map((c) => [c.name, c.bytes, c.ranks])).toEqual([['all_reduce.o_proj', 8 * 2048 * 2, 4], ['all_reduce.moe', 8 * 2048 * 2, 4]]);
  });

  it('DP attention: all-gather and reduce-scatter of every DP group’s tokens around each MoE block, over the dp ranks of a TP rank', () => {
    const ds = resolveModel('deepseek-v3'); // hidden 7168, 61 layers, the first 3 dense
    const calls = forwardCollectives(ds, layout(1, 8, 8), 16, 2);
    const whole = 8 * 16 * 7168 * 2;
    // tp 1: no all-reduce anywhere (attention and the dense MLPs are whole in each DP group).
    expect(calls.map((c) => [c.name, c.bytes, c.ranks, c.calls])).toEqual([
      ['all_gather.moe', whole, 8, 58],
      ['reduce_scatter.moe', whole, 8, 58],
    ]);
    // tp 2 inside each of 4 DP groups: the attention's and the dense MLPs' all-reduces over tp of T
    // rows, the MoE output's over tp of dp·T rows, the gather and scatter over the 4 DP ranks.
    const act = 16 * 7168 * 2;
    expect(forwardCollectives(ds, layout(2, 8, 4), 16, 2).map((c) => [c.name, c.bytes, c.ranks, c.calls])).toEqual([
      ['all_reduce.o_proj', act, 2, 61],
      ['all_reduce.mlp', act, 2, 3],
      ['all_gather.moe', 4 * act, 4, 58],
      ['all_reduce.moe', 4 * act, 2, 58],
      ['reduce_scatter.moe', 4 * act, 4, 58],
    ]);
  });

  it('the parallel floor is the shard’s roofline floor plus the collectives’ time', () => {
    const peaks = { flopsPerS: 1e15, bytesPerS: 3e12 };
    const cost = decodeStepCost(shardSpec(llama70, layout(8)), 4, 1024, 2);
    expect(parallelFloorMs(cost, peaks, 0.25)).toBeCloseTo(floorMs(cost, peaks) + 0.25, 12);
    expect(parallelFloorMs(cost, peaks, null)).toBe(floorMs(cost, peaks));
  });
});

describe('a simulated world in a result', () => {
  const spec = resolveModel('tiny-llama'); // hidden 256, 4 layers
  const raw: NativePointResult = {
    waitingMs: 1, prefillMs: 10, decodeStepMs: [2, 2, 2], decodeContext: [17, 18, 19], acceptedTokens: [2, 2, 2],
    firstRequestTokens: [1, 2, 3, 4], usedGraphs: false, profiledPrefill: [], profiledDecode: [], traceFiles: [], routing: 'balanced',
    expertCounts: [], telemetry: null, telemetryReason: 'cpu', kernelPaths: {}, mlaPrefillForm: null, mlaDecodeForm: null,
  };
  const ctx = (tp: number, dp: number, simulated: boolean): RunContext => ({
    runName: 'r', spec, device: 'cuda:0', mode: 'both', seed: 1, peaks: { flopsPerS: 1e12, bytesPerS: 1e11 }, bytesPerElem: 2,
    profileDecodeSteps: 0, routing: 'balanced', mtpDrafts: 0, mtpAccept: 'all', provenance: null,
    info: { device: 'cuda:0', deviceName: 'x', dtype: 'bf16', weightBytes: 0, kvPoolTokens: 0, kvBytesPerToken: 0, blockSize: 16, weightInitMs: 0, deviceInfo: {} as never },
    layout: layoutOf({ tp, ep: 1, dp, ...(simulated ? { simulateWorld: tp * dp, busBandwidth: 1 } : {}) }), busBytesPerS: 1e9,
  });
  const point = { batchSize: 2, inputLen: 16, outputLen: 4 };

  it('adds the collectives’ time to every measured step, and says it is an estimate everywhere', () => {
    const p = buildPointResult(ctx(2, 1, true), point, raw);
    // Decode: 2 tokens × 256 × 2 bytes = 1 KiB, 8 all-reduces over 2 ranks (factor 1) at 1 GB/s.
    const decodeComm = (8 * 1024) / 1e9 * 1000;
    expect(p.decodeCommBytes).toBe(8 * 1024);
    expect(p.decodeCommTimeEstimateMs).toBeCloseTo(decodeComm, 12);
    expect(p.decodeStepMs).toEqual([2, 2, 2].map((x) => x + decodeComm));
    expect(p.prefillMs).toBeCloseTo(10 + (8 * 32 * 256 * 2) / 1e9 * 1000, 12);
    expect(p.estimate).toBe(true);
    const rec = toRecord(p);
    expect(rec).toMatchObject({ tp: 2, ep: 1, dp: 1, world: 2, estimate: true, bus_bandwidth_gbps: 1, decode_comm_bytes: 8192 });
    expect(formatTables([p])).toContain("Decode Result (tp 2, ep 1, dp 1: 2 ranks; ESTIMATE: rank 0's shard measured alone, the collectives' time added at 1 GB/s bus bandwidth)");
  });

  it('a real multi-rank result keeps its measured times; throughput sums over DP ranks; the table says the batch is per DP rank', () => {
    const one = buildPointResult(ctx(1, 1, false), point, raw);
    const dp2 = buildPointResult(ctx(1, 2, false), point, raw);
    expect(dp2.decodeStepMs).toEqual([2, 2, 2]);
    expect(dp2.decodeTokPerS).toBeCloseTo(2 * one.decodeTokPerS!, 9);
    expect(dp2.prefillTokPerS).toBeCloseTo(2 * one.prefillTokPerS!, 9);
    expect(dp2.decodeCommBytes).toBe(0); // replicas
    expect(one.decodeCommBytes).toBeNull();
    expect(toRecord(one)).toMatchObject({ world: 1, estimate: false, decode_comm_bytes: null });
    expect(formatTables([dp2])).toContain('Decode Result (tp 1, ep 1, dp 2: 2 ranks; Batch Size is per DP rank, tok/s summed over the DP ranks)');
    expect(formatTables([one])).toContain('Decode Result\n');
  });
});
