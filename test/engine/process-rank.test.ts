// A launch's process runs one rank of the layout (NativeParallel.process): its shard, its own DP
// group's batch, its own times and tokens. On the CPU only a layout without collectives (dp
// replicas of a dense model) can run so; the rest is refused in one line, as are a rank, a world or
// ids that do not fit the layout. Its NCCL joins run on the GPU machine only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeEngine, NativeModelSpec, NativeParallel } from '../../lib/bridge/native.js';
import { normalizeConfig } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { ids, openEngine, point, tinySpec } from './helpers.js';

const ID_BYTES = 128;
const processRank = (p: { tp?: number; dp?: number; ep?: number }, rank: number, over: { world?: number; idBytes?: number } = {}): NativeParallel => {
  const tp = p.tp ?? 1, dp = p.dp ?? 1;
  return { tp, dp, ep: p.ep ?? 1, process: { rank, world: over.world ?? tp * dp, ids: Buffer.alloc(over.idBytes ?? (dp + tp) * ID_BYTES, 3) } };
};

async function runBatch(e: NativeEngine, batchSize: number) {
  const done = e.runPoint(point({ batchSize, inputLen: 8, outputLen: 4 }), () => {});
  for (let i = 0; i < batchSize; i++) {
    e.submit({ id: i, inputIds: ids(8, i) });
    await new Promise((r) => setImmediate(r));
  }
  return done;
}

describe('rank 1 of dp 2 of a dense model, alone in its process', () => {
  let rank1: NativeEngine, single: NativeEngine;
  beforeAll(async () => {
    rank1 = await openEngine({ parallel: processRank({ dp: 2 }, 1) });
    single = await openEngine();
  });
  afterAll(async () => {
    await rank1.close();
    await single.close();
  });

  it('says which rank it runs, holds a whole replica, and runs its own batch of batchSize requests', async () => {
    expect(rank1.info().parallel).toEqual({ tp: 1, ep: 1, dp: 2, simulate: false, process: { rank: 1, world: 2 } });
    expect(rank1.info().weightBytes).toBe(single.info().weightBytes);
    const [mine, one] = [await runBatch(rank1, 2), await runBatch(single, 2)];
    expect(mine.acceptedTokens).toEqual([2, 2, 2]);
    expect(mine.firstRequestTokens).toEqual(one.firstRequestTokens);
  });

  it('measures no bus: it has no group to measure', async () => {
    expect((await rank1.measurePeaks()).bus).toBeNull();
  });
});

const qwen2Moe: NativeModelSpec = toNative(normalizeConfig({
  model_type: 'qwen2_moe', vocab_size: 512, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 512, rms_norm_eps: 1e-6,
  num_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 32,
}));

describe('a process rank the CPU or the layout cannot run: one line', () => {
  const cpuRefusal = 'over 2 CPU processes needs collectives between the processes, which the host communicator cannot make';
  it.each([
    ['tp 2 of a dense model (its all-reduces)', tinySpec, processRank({ tp: 2 }, 0), `tp 2, dp 1, ep 1 ${cpuRefusal}`],
    ['dp 2 of an MoE model (DP attention\'s gather)', qwen2Moe, processRank({ dp: 2 }, 1), `tp 1, dp 2, ep 1 ${cpuRefusal}`],
    ['ids of the wrong size', tinySpec, processRank({ tp: 2 }, 0, { idBytes: 128 }), 'parallel.process.ids of 128 bytes (allowed: (dp + tp) * 128 = 384, an NCCL unique id per group'],
    ['a rank outside the layout', tinySpec, processRank({ dp: 2 }, 2), 'parallel.process.rank 2 is not a rank of the layout (allowed: 0 to 1)'],
    ['a world other than tp × dp', tinySpec, processRank({ dp: 2 }, 0, { world: 4 }), 'parallel.process.world 4 is not the layout\'s tp * dp = 2 (allowed: one process per rank)'],
    ['an estimate', tinySpec, { ...processRank({ tp: 2 }, 0), simulate: true }, 'parallel.simulate with parallel.process'],
    ['a negative rank', tinySpec, processRank({ dp: 2 }, -1), "field 'rank' must be >= 0"],
  ] as const)('%s', async (_name, spec, parallel, message) => {
    const err = await openEngine({ spec, parallel }).then(() => null, (e: unknown) => e as { code: string; message: string });
    expect(err?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err?.message.startsWith(message)).toBe(true);
    expect(err?.message).not.toContain('\n');
  });
});
