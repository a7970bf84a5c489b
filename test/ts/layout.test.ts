// Parallel layouts (lib/api/layout.ts): refused up front with one line naming the option and what is
// allowed, before any engine opens; rank 0's shard priced as a model of its own.
import { describe, expect, it } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import { checkModelLayout, checkPlacement, engineParallel, layoutOf, needsCollectives, processIdBytes, shardSpec, type ParallelLayout } from '../../lib/api/layout.js';
import { decodeStepCost, lmHeadParams, prefillCost } from '../../lib/api/metrics.js';
import { SINGLE_PROCESS, type LaunchRanks } from '../../lib/api/ranks.js';
import { InvalidArgumentError } from '../../lib/base/errors.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { runCli } from './cli-helpers.js';
import { fakeAddon } from './fake-addon.js';

const layout = (tp: number, ep = 1, dp = 1): ParallelLayout => layoutOf({ tp, ep, dp });
const llama = resolveModel('tiny-llama'); // 8 heads, 4 KV heads
const mixtral = resolveModel('tiny-mixtral'); // 8 experts
const deepseek = resolveModel('tiny-deepseek-v3'); // MLA, 16 experts, a shared expert
const launch = (world: number): LaunchRanks => ({ launcher: 'torchrun', rank: 0, world, localRank: 0, addr: '127.0.0.1', port: 29500 });

function refusal(f: () => unknown): InvalidArgumentError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as Error).message).not.toContain('\n');
    return e as InvalidArgumentError;
  }
  throw new Error('not refused');
}

describe('layout options', () => {
  it('tp × dp ranks; ep divides them (the EP ranks are the TP × DP ranks)', () => {
    expect(layoutOf({ tp: 2, ep: 4, dp: 2 })).toEqual({ tp: 2, ep: 4, dp: 2, world: 4, simulated: false });
    const e = refusal(() => layoutOf({ tp: 2, ep: 4, dp: 1 }));
    expect(e.field).toBe('ep');
    expect(e.message).toBe('ep: 4 is not allowed (allowed: a divisor of tp × dp = 2: the EP ranks are the TP × DP ranks, as in sglang)');
    expect(refusal(() => layoutOf({ tp: 4, ep: 3, dp: 1 })).field).toBe('ep');
  });

  it('simulateWorld is the layout’s world and needs a bus bandwidth', () => {
    expect(layoutOf({ tp: 8, ep: 1, dp: 1, simulateWorld: 8, busBandwidth: 450 }).simulated).toBe(true);
    expect(refusal(() => layoutOf({ tp: 4, ep: 1, dp: 1, simulateWorld: 8, busBandwidth: 450 })).message).toBe(
      'simulateWorld: 8 is not allowed (allowed: tp × dp = 4, the world of the layout it estimates)',
    );
    expect(refusal(() => layoutOf({ tp: 8, ep: 1, dp: 1, simulateWorld: 8 })).field).toBe('busBandwidth');
  });
});

describe('layout against the model', () => {
  it('heads divide by tp; KV heads divide by tp or tp by them', () => {
    checkModelLayout(llama, layout(2));
    checkModelLayout(llama, layout(8)); // 4 KV heads, each held by 2 ranks
    expect(refusal(() => checkModelLayout(llama, layout(3))).message).toBe('tp: 3 is not allowed (allowed: a divisor of the 8 attention heads of tiny-llama)');
    const odd = { ...llama, numHeads: 12, numKvHeads: 4 };
    expect(refusal(() => checkModelLayout(odd, layout(6))).message).toContain('a divisor or a multiple of the 4 KV heads of tiny-llama');
  });

  it('MLA: heads divide by tp, its latent cache is every rank’s', () => {
    checkModelLayout(deepseek, layout(8));
    expect(refusal(() => checkModelLayout(deepseek, layout(16))).field).toBe('tp');
  });

  it('ep only for MoE models, experts divisible by ep', () => {
    expect(refusal(() => checkModelLayout(llama, layout(2, 2))).message).toBe('ep: 2 is not allowed (allowed: 1 for tiny-llama, a dense model (expert parallel places experts))');
    checkModelLayout(mixtral, layout(4, 4));
    checkModelLayout(mixtral, layout(1, 2, 2));
    const six = { ...mixtral, moe: { ...mixtral.moe!, numExperts: 6 } };
    expect(refusal(() => checkModelLayout(six, layout(4, 4))).message).toBe('ep: 4 is not allowed (allowed: a divisor of the 6 experts of tiny-mixtral)');
  });

  it('dp > 1 for any model', () => {
    for (const spec of [llama, mixtral, deepseek]) checkModelLayout(spec, layout(1, 1, 4));
  });

  it('as native: the dense MLP splits over tp only (whatever dp), the shared expert over every rank, no dense layer no MLP check', () => {
    const odd = { ...deepseek, intermediateSize: 98 }; // its first layer is dense
    checkModelLayout(odd, layout(2, 1, 2));
    expect(refusal(() => checkModelLayout(odd, layout(4))).message).toContain('a divisor of intermediate_size 98 of tiny-deepseek-v3 (the dense MLP is split over tp)');
    checkModelLayout({ ...mixtral, intermediateSize: 98 }, layout(4)); // every layer MoE: no dense MLP to split
    const shared = { ...deepseek, moe: { ...deepseek.moe!, sharedIntermediateSize: 6 } };
    checkModelLayout(shared, layout(2));
    expect(refusal(() => checkModelLayout(shared, layout(2, 1, 2))).field).toBe('dp');
  });
});

describe('layout against the device and the processes', () => {
  it('one process: tp × dp GPUs at most; the CPU runs any world with threads; an estimate needs one GPU', () => {
    checkPlacement(llama, layout(8), { device: 'cpu', gpus: 0, launch: SINGLE_PROCESS });
    checkPlacement(llama, layout(2), { device: 'cuda:0', gpus: 2, launch: SINGLE_PROCESS });
    const e = refusal(() => checkPlacement(llama, layout(4), { device: 'cuda:0', gpus: 2, launch: SINGLE_PROCESS }));
    expect(e.message).toBe('tp: 4 is not allowed (allowed: tp × dp at most the 2 GPUs here (tp × dp = 4 ranks, one GPU each); simulateWorld estimates a larger world on one GPU)');
    checkPlacement(llama, layoutOf({ tp: 8, ep: 1, dp: 1, simulateWorld: 8, busBandwidth: 1 }), { device: 'cuda:0', gpus: 1, launch: SINGLE_PROCESS });
  });

  it('several processes: one rank each, tp × dp = the processes; on the CPU only layouts without collectives', () => {
    checkPlacement(llama, layout(1, 1, 2), { device: 'cpu', gpus: 0, launch: launch(2) });
    checkPlacement(llama, layout(1, 1, 2), { device: 'cuda:0', gpus: 2, launch: launch(2) });
    expect(refusal(() => checkPlacement(llama, layout(1, 1, 4), { device: 'cpu', gpus: 0, launch: launch(2) })).message).toBe(
      'layout: tp × dp = 4 ranks, but torchrun started 2 processes (allowed: one process per rank: tp × dp = WORLD_SIZE 2 of torchrun)',
    );
    expect(refusal(() => checkPlacement(llama, layout(2, 1, 4), { device: 'cuda:0', gpus: 8, launch: launch(4) })).field).toBe('dp');
    expect(refusal(() => checkPlacement(llama, layout(2), { device: 'cpu', gpus: 0, launch: launch(2) })).field).toBe('tp');
    expect(refusal(() => checkPlacement(mixtral, layout(1, 1, 2), { device: 'cpu', gpus: 0, launch: launch(2) })).message).toBe(
      'layout: tp 1, ep 1, dp 2 of tiny-mixtral over 2 CPU processes needs collectives between the processes, which the CPU\'s host communicator cannot make (allowed: over CPU processes, dp replicas (tp 1) of a dense model, which exchange nothing; any layout in one CPU process, its threads the ranks; over processes with collectives, CUDA devices (NCCL))',
    );
    // CUDA processes join their groups over NCCL: any layout of one rank per process, wherever the GPUs are.
    checkPlacement(llama, layout(2), { device: 'cuda:1', gpus: 2, launch: launch(2) });
    checkPlacement(mixtral, layout(2, 2), { device: 'cuda:0', gpus: 2, launch: launch(2) });
    checkPlacement(deepseek, layout(2, 8, 4), { device: 'cuda:3', gpus: 8, launch: launch(8) });
    expect(refusal(() => checkPlacement(llama, layoutOf({ tp: 2, ep: 1, dp: 1, simulateWorld: 2, busBandwidth: 1 }), { device: 'cuda:0', gpus: 2, launch: launch(2) })).field).toBe('simulateWorld');
  });

  it('needsCollectives: tp > 1, or an MoE model over DP groups; dense DP replicas exchange nothing', () => {
    expect([layout(2), layout(1, 1, 2), layout(2, 1, 2)].map((l) => needsCollectives(llama, l))).toEqual([true, false, true]);
    expect([layout(1), layout(1, 1, 2), layout(1, 2, 2)].map((l) => needsCollectives(mixtral, l))).toEqual([false, true, true]);
  });

  it('the engine\'s layout on the wire: the whole layout in one process; a launch\'s process its rank of it, with the ids', () => {
    const ids = Buffer.alloc(processIdBytes(layout(2, 1, 2)), 1);
    expect(ids.length).toBe((2 + 2) * 128);
    expect(engineParallel(layout(2, 1, 2), SINGLE_PROCESS)).toEqual({ tp: 2, ep: 1, dp: 2, simulate: false });
    expect(engineParallel(layout(2, 1, 2), { ...launch(4), rank: 3 }, ids)).toEqual({ tp: 2, ep: 1, dp: 2, simulate: false, process: { rank: 3, world: 4, ids } });
    expect(() => engineParallel(layout(2), launch(2))).toThrow('needs the ids of its rendezvous');
  });

  it('a sweep refuses a bad layout before any engine opens, and the CLI names the flag (exit 2)', async () => {
    const addon = fakeAddon({ cuda: true }); // one GPU
    const grid = { batchSizes: [1], inputLens: [8], outputLens: [2] };
    await expect(sweep({ model: 'tiny-llama', addon, device: 'cuda', tp: 2, ...grid })).rejects.toThrow('tp: 2 is not allowed (allowed: tp × dp at most the 1 GPU here');
    await expect(sweep({ model: 'tiny-llama', addon, device: 'cpu', ep: 2, tp: 2, ...grid })).rejects.toThrow('ep: 2 is not allowed');
    expect(addon.log.engines).toHaveLength(0);
    const cli = await runCli(['run', '--model', 'tiny-llama', '--tp', '3', '--device', 'cpu']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toBe('gpubench: error: --tp: 3 is not allowed (allowed: a divisor of the 8 attention heads of tiny-llama)\n');
    const sim = await runCli(['run', '--model', 'tiny-llama', '--tp', '2', '--simulate-world', '2']);
    expect(sim.code).toBe(2);
    expect(sim.stderr).toContain('--bus-bandwidth: is missing');
  });
});

describe("rank 0's shard", () => {
  it('one rank is the whole model', () => {
    expect(shardSpec(llama, layout(1))).toBe(llama);
  });

  it('TP splits heads, KV heads and the MLP; the embedding and the LM head stay whole (replicated, as native runs them)', () => {
    const s = shardSpec(llama, layout(2));
    expect([s.numHeads, s.numKvHeads, s.intermediateSize, s.vocabSize]).toEqual([4, 2, 344, 2048]);
    const whole = decodeStepCost(llama, 4, 64, 2), half = decodeStepCost(s, 4, 64, 2);
    // Everything halves but the LM head's 2·B·vocab·hidden flops and its bytes (and the norms, the embedding rows).
    const lmFlops = 2 * 4 * lmHeadParams(llama), lmBytes = lmHeadParams(llama) * 2;
    expect(half.flops).toBeCloseTo((whole.flops + lmFlops) / 2, 0);
    expect((half.bytes - lmBytes) / (whole.bytes - lmBytes)).toBeGreaterThan(0.49);
    expect((half.bytes - lmBytes) / (whole.bytes - lmBytes)).toBeLessThan(0.52);
    expect(shardSpec(llama, layout(8)).numKvHeads).toBe(1); // 4 KV heads over 8 ranks: one each, replicated
  });

  it('EP with DP attention: the experts hit and the expert flops of rank 0', () => {
    // 16 experts, top-4; tp 1, dp 4, ep 4: the MoE sees 4 × tokens, rank 0 holds 4 experts whole.
    const l = layout(1, 4, 4);
    const s = shardSpec(deepseek, l);
    const moe = s.moe!;
    expect([moe.numExperts, moe.topK, moe.expertIntermediateSize]).toEqual([4, 4, 64]);
    // 1 token per DP rank: 4 tokens × top-4 = 16 slots over 16 experts, 4 of them on rank 0.
    const whole = prefillCost(deepseek, 4, 1, 2), shard = prefillCost(s, 1, 1, 2);
    expect(shard.flops).toBeLessThan(whole.flops);
    expect(s.numHeads).toBe(deepseek.numHeads); // attention is data parallel: every head on every rank
  });
});

describe('an estimate past the machine', () => {
  it('simulateWorld on one GPU: every point marked an estimate, its steps with the collectives’ time', async () => {
    const addon = fakeAddon({ cuda: true }); // one GPU
    const r = await sweep({
      model: 'tiny-llama', addon, device: 'cuda', tp: 8, simulateWorld: 8, busBandwidth: 0.001, batchSizes: [2], inputLens: [8], outputLens: [3],
    });
    const p = r.points[0]!;
    expect(p.ok && p.estimate && p.world === 8 && p.tp === 8).toBe(true);
    if (!p.ok) return;
    // 2 tokens × 256 × 2 bytes over 8 ranks, 8 all-reduces per step (4 layers × 2) at 1 MB/s.
    const comm = ((8 * 2 * 256 * 2 * 1.75) / 1e6) * 1000;
    expect(p.decodeCommTimeEstimateMs).toBeCloseTo(comm, 9);
    expect(Math.min(...p.decodeStepMs)).toBeGreaterThan(comm);
    expect(p.provenance?.layout).toMatchObject({ tp: 8, world: 8, estimate: true, launcher: 'none', processes: 1 });
  });
});
