// What the ranks of a launch agree on before each point (lib/api/rank-agree.ts): the smallest KV
// pool and whether each point runs, decided alike on every rank, with the ranks in this process over
// the real rendezvous; then sweep as rank 0 of a launch with collectives (the fake addon on CUDA),
// this test its rank 1: a point rank 1's pool cannot hold is refused without entering rank 0's
// engine, and a point that fails inside rank 0's engine ends its run rather than wait for rank 1.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import { agreePoint, agreeSizing, kvRefusal, type LaunchSizing, type Refusal } from '../../lib/api/rank-agree.js';
import { rendezvous, type RankGroup } from '../../lib/api/rendezvous.js';
import { DeviceError } from '../../lib/base/errors.js';
import type { NativeEngineInfo, NativePointOptions, NativePointResult, NativeProgress } from '../../lib/bridge/native.js';
import { fakeAddon } from './fake-addon.js';
import { asRank0, freePort } from './launch-helpers.js';

async function meet(world: number): Promise<RankGroup[]> {
  const port = await freePort();
  return Promise.all(Array.from({ length: world }, (_, rank) => rendezvous({ rank, world, addr: '127.0.0.1', port, makeId: () => Buffer.alloc(0), timeoutMs: 5000 })));
}

const infoOf = (kvPoolTokens: number) => ({ kvPoolTokens, kvBytesPerToken: 1024, blockSize: 16 }) as NativeEngineInfo;
const point = (batchSize: number) => ({ batchSize, inputLen: 8, outputLen: 4 });

afterEach(() => vi.unstubAllEnvs());

describe('the ranks agree before each point', () => {
  it('on the smallest KV pool, naming its rank; a point it cannot hold is refused in native\'s words with that rank\'s advice', async () => {
    const groups = await meet(3);
    const pools = [1024, 48, 64];
    const sizings = await Promise.all(groups.map((g, r) => agreeSizing(g, infoOf(pools[r] as number), { kvPoolTokens: r === 1 ? 48 : undefined, gridKvTokens: 64 })));
    const smallest: LaunchSizing = { rank: 1, kvPoolTokens: 48, kvBytesPerToken: 1024, blockSize: 16, fit: { kvPoolTokens: 48, gridKvTokens: 64 }, world: 3 };
    for (const s of sizings) expect(s).toEqual(smallest);
    // 4 requests of 12 tokens, each in one block of 16: 64 tokens, more than rank 1's 48.
    expect(kvRefusal(point(4), 'both', 0, smallest)).toEqual({
      code: 'ERR_DOES_NOT_FIT',
      message: "batch does not fit the KV cache of rank 1 (the smallest of the 3 ranks'): needs 64 tokens (4 x 12, 65536 bytes), 48 tokens (49152 bytes) available; what helps: `kvPoolTokens` of at least 64 (the grid's largest point needs that many)",
    });
    expect(kvRefusal(point(3), 'both', 0, smallest)).toBeUndefined();
    await Promise.all([groups[1]?.close(), groups[2]?.close(), groups[0]?.close()]);
  });

  it('on each point: one rank\'s refusal is every rank\'s, naming it; ranks at different points all stop with the same line', async () => {
    const groups = await meet(3);
    const agree = (index: number, own: (rank: number) => Refusal | undefined, p = (_rank: number) => point(1)) =>
      Promise.all(groups.map((g, r) => agreePoint(g, index, p(r), own(r)).catch((e: unknown) => e)));
    expect(await agree(0, () => undefined)).toEqual([undefined, undefined, undefined]);
    const timeout: Refusal = { code: 'ERR_TIMEOUT', message: 'batch of 1 did not fill in 10 ms' };
    const refused = await agree(1, (r) => (r === 2 ? timeout : undefined));
    expect(refused).toEqual(Array(3).fill({ code: 'ERR_TIMEOUT', message: 'rank 2: batch of 1 did not fill in 10 ms' }));
    // Rank 1 skipped point 1/8/4 (say --resume read another file there): no rank runs either.
    const strayed = await agree(2, () => undefined, (r) => point(r === 1 ? 2 : 1));
    expect(strayed).toEqual(Array(3).fill(new DeviceError("rank 1 is at point 2/8/4 where rank 0 is at 1/8/4 (allowed: every rank runs the same grid, --resume's file the same on each)")));
    await Promise.all([groups[1]?.close(), groups[2]?.close(), groups[0]?.close()]);
  });
});

describe('sweep as rank 0 of a launch with collectives (tp 2 on CUDA, the fake addon)', () => {
  /** Rank 1's own result of a point that ran: the fields merged across ranks. */
  const rank1Result = (p: ReturnType<typeof point>) =>
    ({ waitingMs: 0, prefillMs: 5, decodeStepMs: Array(p.outputLen - 1).fill(2), usedGraphs: true, traceFiles: [] }) as unknown as NativePointResult;

  it('a point rank 1\'s smaller pool cannot hold: refused on both with one line, never entering rank 0\'s engine; the others run merged', async () => {
    const addon = fakeAddon({ cuda: true });
    const rank1 = await asRank0();
    const batches = [1, 4, 2];
    const run = sweep({ model: 'tiny-llama', addon, device: 'cuda', tp: 2, batchSizes: batches, inputLens: [8], outputLens: [4] });
    const group = await rank1();
    const sizing = await agreeSizing(group, infoOf(48), { kvPoolTokens: 48, gridKvTokens: 64 });
    const own: (Refusal | undefined)[] = [];
    for (const [i, b] of batches.entries()) {
      const refusal = await agreePoint(group, i, point(b), kvRefusal(point(b), 'both', 0, sizing));
      own.push(refusal);
      await group.gather(i, refusal ? { ok: false, ...refusal } : { ok: true, raw: rank1Result(point(b)) });
    }
    await group.close();
    const result = await run;
    expect(sizing).toMatchObject({ rank: 1, kvPoolTokens: 48, world: 2 });
    expect(own.map((r) => r?.code)).toEqual([undefined, 'ERR_DOES_NOT_FIT', undefined]);
    const refused = result.points[1];
    expect(refused).toMatchObject({ ok: false, batchSize: 4, error: own[1] });
    expect(addon.log.events.filter((e) => e.startsWith('runPoint'))).toEqual(['runPoint bs=1 in=8 out=4', 'runPoint bs=2 in=8 out=4']);
    for (const p of [result.points[0], result.points[2]]) {
      expect(p).toMatchObject({ ok: true });
      if (p?.ok) expect(p.rankTimes.map((t) => t.decodeMedianMs)).toEqual([expect.any(Number), 2]);
    }
    expect(result.engine.kvPoolTokens).toBe(48); // the launch's smallest
  });

  it('a point that fails inside rank 0\'s engine ends its run at once, not waiting for rank 1, which may wait in the point\'s collectives', async () => {
    const addon = fakeAddon({ cuda: true });
    const Base = addon.Engine;
    addon.Engine = class extends Base {
      override async runPoint(o: NativePointOptions, onProgress: (p: NativeProgress) => void): Promise<NativePointResult> {
        if (o.batchSize === 2) throw Object.assign(new Error('cudaMalloc of 1 GiB failed: out of memory'), { code: 'ERR_OUT_OF_MEMORY' });
        return super.runPoint(o, onProgress);
      }
    } as typeof Base;
    const rank1 = await asRank0();
    const run = sweep({ model: 'tiny-llama', addon, device: 'cuda', tp: 2, batchSizes: [1, 2], inputLens: [8], outputLens: [4] });
    const group = await rank1();
    const sizing = await agreeSizing(group, infoOf(1 << 20), { kvPoolTokens: undefined, gridKvTokens: 32 });
    expect(await agreePoint(group, 0, point(1), kvRefusal(point(1), 'both', 0, sizing))).toBeUndefined();
    await group.gather(0, { ok: true, raw: rank1Result(point(1)) });
    expect(await agreePoint(group, 1, point(2), kvRefusal(point(2), 'both', 0, sizing))).toBeUndefined();
    // Rank 1 never sends its outcome of point 1: it stands for a rank left waiting in a collective.
    await expect(run).rejects.toThrow(new DeviceError('point 2/8/4 failed on rank 0 after every rank began it: cudaMalloc of 1 GiB failed: out of memory (its collectives are aborted, and the other ranks may wait in them: the launch stops)'));
    await group.close();
  });
});
