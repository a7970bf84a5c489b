// Parallel layouts end to end on the CPU through sweep() and the CLI (docs/design.md sections 8, 10
// and 12): the engine opens with the layout, its points carry it, the bus bandwidth is measured with
// the layout's own communicator (or given), the comm bytes are comm-cost's, the floor is the parallel
// one and the collectives are ops of the profiled pass; a simulated world runs rank 0's shard alone.
import { describe, expect, it } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import { commCost, forwardCollectives, parallelFloorMs } from '../../lib/api/comm-cost.js';
import { layoutOf, shardSpec } from '../../lib/api/layout.js';
import { decodeStepCost } from '../../lib/api/metrics.js';
import type { PointOutcome, PointResult } from '../../lib/api/result.js';
import { layerParams, totalParams } from '../../lib/model/params.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { toRecord } from '../../lib/report/fields.js';
import { formatTables } from '../../lib/report/table.js';
import { runCli } from '../ts/cli-helpers.js';

const GRID = { batchSizes: [2], inputLens: [8], outputLens: [3], device: 'cpu', threads: 2, seed: 1 };
const PEAKS = { flopsPerS: 1e10, bytesPerS: 1e10 };

function ok(p: PointOutcome | undefined): PointResult {
  if (!p?.ok) throw new Error(`point failed: ${p && !p.ok ? p.error.message : 'none'}`);
  return p;
}

const opsOf = (p: PointResult) => new Set(p.breakdown.decode.map((o) => o.op));

describe('sweep() under a layout, on the CPU', () => {
  it('tp 2 of a dense model: the layout in every point, a measured bus, comm-cost\'s bytes, the parallel floor, collectives profiled', async () => {
    const r = await sweep({ model: 'tiny-llama', ...GRID, tp: 2, profile: 'decode', profileDecodeSteps: 1 });
    const p = ok(r.points[0]);
    expect([p.tp, p.ep, p.dp, p.world, p.estimate]).toEqual([2, 1, 1, 2, false]);
    expect(r.engine.parallel).toEqual({ tp: 2, ep: 1, dp: 1, simulate: false });
    // The bus the engine measured with its host communicator, used for the comm times.
    expect(r.peaks.bus?.ranks).toBe(2);
    expect(r.peaks.bus!.bytesPerS).toBeGreaterThan(0);
    expect(p.busBandwidthGBps).toBe(r.peaks.bus!.bytesPerS / 1e9);
    const spec = resolveModel('tiny-llama'), layout = layoutOf({ tp: 2, ep: 1, dp: 1 });
    const comm = commCost(forwardCollectives(spec, layout, 2, 4), r.peaks.bus!.bytesPerS);
    expect(p.decodeCommBytes).toBe(comm.bytes);
    expect(p.decodeCommBytes).toBe(2 * 4 * 2 * 256 * 4); // o_proj and mlp, 4 layers, 2 tokens × 256 × f32
    expect(p.decodeCommTimeEstimateMs).toBeCloseTo(comm.ms!, 9);
    const shardCost = decodeStepCost(shardSpec(spec, layout), 2, p.decodeFloorContext!, 4);
    expect(p.decodeFloorMs).toBeCloseTo(parallelFloorMs(shardCost, p.peaks, comm.ms), 9);
    for (const op of ['all_reduce.o_proj', 'all_reduce.mlp']) expect(opsOf(p), op).toContain(op);
    expect(r.provenance.peaks.method).toContain('all-reduce of 16 MiB over 2 ranks');
  });

  it('dp 2 ep 2 of an MoE model: each DP group its own batch, DP attention\'s collectives, a given bus bandwidth overriding', async () => {
    const r = await sweep({ model: 'tiny-qwen2-moe', ...GRID, dp: 2, ep: 2, peaks: PEAKS, busBandwidth: 2, profile: 'decode', profileDecodeSteps: 1 });
    const p = ok(r.points[0]);
    expect([p.tp, p.ep, p.dp, p.world]).toEqual([1, 2, 2, 2]);
    expect(p.busBandwidthGBps).toBe(2);
    const layout = layoutOf({ tp: 1, ep: 2, dp: 2 });
    const comm = commCost(forwardCollectives(resolveModel('tiny-qwen2-moe'), layout, 2, 4), 2e9);
    expect(p.decodeCommBytes).toBe(comm.bytes);
    expect(p.decodeCommTimeEstimateMs).toBeCloseTo(comm.ms!, 9);
    // tp 1: no all-reduce; the MoE layers (1 and 3) gather and scatter over the 2 DP ranks.
    expect([...opsOf(p)].filter((o) => /^(all_reduce|all_gather|reduce_scatter)\./.test(o)).sort()).toEqual(['all_gather.moe', 'reduce_scatter.moe']);
    // 2 requests per DP group, one token each per step, summed over the groups.
    expect(p.decodeTokPerS).toBeCloseTo((2 * 2) / (p.decode!.median / 1000), 6);
    expect(p.firstRequestTokens).toHaveLength(3);
  });

  it('a simulated tp 2: rank 0\'s shard alone, the comm time added, an estimate everywhere, no claim on its tokens', async () => {
    const spec = resolveModel('tiny-llama');
    const r = await sweep({ model: 'tiny-llama', ...GRID, tp: 2, simulateWorld: 2, busBandwidth: 0.5, peaks: PEAKS, profile: 'decode', profileDecodeSteps: 1 });
    const p = ok(r.points[0]);
    expect(p.estimate).toBe(true);
    expect(r.engine.parallel).toEqual({ tp: 2, ep: 1, dp: 1, simulate: true });
    // Rank 0's weights: the layers' linears halved, the embedding, LM head and norms whole (f32).
    const rank0 = (totalParams(spec) - layerParams(spec, 0) / 2) * 4;
    expect(r.engine.weightBytes / rank0).toBeCloseTo(1, 2);
    expect(p.decodeCommTimeEstimateMs).toBeGreaterThan(0);
    expect(Math.min(...p.decodeStepMs)).toBeGreaterThan(p.decodeCommTimeEstimateMs!);
    expect(opsOf(p)).toContain('all_reduce.o_proj');
    expect(p.notes.join(' ')).toContain('its tokens are not meaningful');
    expect(toRecord(p)).toMatchObject({ tp: 2, world: 2, estimate: true, bus_bandwidth_gbps: 0.5 });
    expect(formatTables([p])).toContain("ESTIMATE: rank 0's shard measured alone, the collectives' time added at 0.5 GB/s bus bandwidth");
  });

  it('gpubench run --tp 2 --device cpu: the layout in the table title', async () => {
    const cli = await runCli(['run', '--model', 'tiny-llama', '--device', 'cpu', '--tp', '2', '--batch', '1', '--input-len', '8', '--output-len', '2', '--threads', '2', '--bus-bandwidth', '1']);
    expect(cli.code).toBe(0);
    expect(cli.stdout + cli.stderr).toContain('Decode Result (tp 2, ep 1, dp 1: 2 ranks)');
  });
});
