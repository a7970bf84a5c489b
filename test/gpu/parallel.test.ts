// Parallel layouts on CUDA (docs/design.md section 8). On one GPU: a simulated TP 2 layout runs rank
// 0's shard alone and is marked an estimate. On two or more GPUs: one process drives the ranks over
// NCCL, and a sharded engine gives the one-GPU engine's greedy run (logits within bf16 tolerance;
// tokens parting only at a near-tie), eager and through CUDA graphs (NCCL's collectives captured).
import { describe, expect, it } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import type { NativeParallel } from '../../lib/bridge/native.js';
import { routingToNative } from '../../lib/bridge/wire.js';
import { addon, expectSameGreedy, hasGpu, open, prompt } from './helpers.js';

const gpus = hasGpu ? addon.listDevices().filter((d) => d.device.startsWith('cuda')).length : 0;
const layout = (p: Partial<NativeParallel>): NativeParallel => ({ tp: 1, ep: 1, dp: 1, ...p });

describe.skipIf(!hasGpu)('a simulated layout on one GPU', () => {
  it('llama-3.1-8b (2 layers) at a simulated tp 2: rank 0 alone, an estimate, its shard of the weights', async () => {
    const base = { model: 'llama-3.1-8b', layers: 2, device: 'cuda:0', batchSizes: [8], inputLens: [256], outputLens: [8] };
    const one = (await sweep(base)).points[0]!;
    const sim = (await sweep({ ...base, tp: 2, simulateWorld: 2, busBandwidth: 360 })).points[0]!;
    if (!one.ok) throw new Error(one.error.message);
    if (!sim.ok) throw new Error(sim.error.message);
    expect(sim.estimate).toBe(true);
    expect(sim.decodeCommTimeEstimateMs).toBeGreaterThan(0);
    console.log(`simulated tp 2: decode median ${sim.decode!.median.toFixed(3)} ms (comm est. ${sim.decodeCommTimeEstimateMs!.toFixed(3)} ms) vs one GPU ${one.decode!.median.toFixed(3)} ms`);
  });
});

describe.skipIf(gpus < 2)(`sharded over ${gpus} GPUs (NCCL)`, () => {
  const cases: [string, NativeParallel, boolean][] = [
    ['tiny-llama', layout({ tp: 2 }), false],
    ['tiny-qwen2-moe', layout({ tp: 2, ep: 2 }), true],
    ['tiny-deepseek-v3', layout({ tp: 2 }), true],
    ['tiny-qwen2-moe', layout({ dp: 2, ep: 2 }), true],
  ];
  for (const [model, parallel, pinned] of cases) {
    for (const graphs of [false, true]) {
      it(`${model} tp ${parallel.tp} ep ${parallel.ep} dp ${parallel.dp}, ${graphs ? 'CUDA graphs' : 'eager'}: one GPU's greedy run`, async () => {
        const routing = pinned ? { moeRouting: routingToNative('zipf:1.2') } : {};
        const one = await open(model, 'cuda:0');
        const sharded = await open(model, 'cuda:0', { parallel });
        const ids = prompt(37, 2048);
        const want = await one.generate(ids, 8, graphs, routing);
        const got = await sharded.generate(ids, 8, graphs, routing);
        await one.close();
        await sharded.close();
        expectSameGreedy(got, want);
      });
    }
  }
});
