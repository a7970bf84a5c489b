// One rank per process, as a launch runs them (NativeParallel.process), on the GPU machine with two
// GPUs and NCCL: here two engines of one Node process on cuda:0 and cuda:1 (each opens on its own
// worker thread, so their NCCL joins meet), each joining its groups by the ids of
// addon.ncclUniqueIds. TP 2 of a dense model (all-reduces over the TP group's id) and DP 2 of an MoE
// model (DP attention's all-gather and reduce-scatter over the DP group's id) give one GPU's tokens.
import { describe, it } from 'vitest';
import type { NativeEngine, NativeGenerateOptions } from '../../lib/bridge/native.js';
import { routingToNative, toNative } from '../../lib/bridge/wire.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { addon, expectSameGreedy, hasGpu, open, prompt } from './helpers.js';

const gpus = hasGpu ? addon.listDevices().filter((d) => d.device.startsWith('cuda')).length : 0;
const nccl = /^NCCL \d/.test(addon.buildInfo().nccl);

/** The layout's ranks as the processes of a launch would open them, rank r on cuda:r. */
async function openRanks(model: string, p: { tp: number; dp: number; ep: number }): Promise<NativeEngine[]> {
  const world = p.tp * p.dp;
  const ids = addon.ncclUniqueIds(p.dp + p.tp);
  const engines = Array.from({ length: world }, (_, rank) => new addon.Engine({
    spec: toNative(resolveModel(model)), device: `cuda:${rank}`, seed: 11, kvPoolTokens: 8 * 512, maxBatch: 8,
    maxTokensPerStep: 2048, maxContext: 512, parallel: { ...p, process: { rank, world, ids } },
  }));
  await Promise.all(engines.map((e) => e.open()));
  return engines;
}

describe.skipIf(!(gpus >= 2 && nccl))('a launch\'s processes, one rank each, over NCCL', () => {
  // Pinned routing: the same experts as one GPU for DP group 0's rows (DP group 1's rows are other
  // token indices of the gathered step, so its routing is another's: only rank 0 is compared).
  const cases = [
    ['tiny-llama', { tp: 2, dp: 1, ep: 1 }, {}, [0, 1]],
    ['tiny-qwen2-moe', { tp: 1, dp: 2, ep: 2 }, { moeRouting: routingToNative('zipf:1.2') }, [0]],
  ] as const;
  it.each(cases)('%s %j: the tokens of one GPU', async (model, p, options, compared) => {
    const one = await open(model, 'cuda:0');
    const ids = prompt(37, 2048);
    const want = await one.generate(ids, 8, false, options as NativeGenerateOptions);
    await one.close();
    const ranks = await openRanks(model, p);
    try {
      // Every rank steps at once: each one's collectives wait for the others'.
      const got = await Promise.all(ranks.map((e) => e.generate(ids, 8, true, options as NativeGenerateOptions)));
      for (const r of compared) expectSameGreedy(got[r]!, want);
    } finally {
      await Promise.all(ranks.map((e) => e.close()));
    }
  });
});
