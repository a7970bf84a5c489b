// The ids a launch's processes join their groups by (lib/api/bench.ts, meetRanks): this test is
// rank 1 of a torchrun launch of two, and sweep (or the CLI) with the fake addon is rank 0. On CUDA
// a layout with collectives gets NCCL unique ids for its dp + tp groups, and each process opens its
// own rank with them; a layout without collectives gets bytes nobody joins with. Where NCCL does not
// load, rank 0's one line reaches every rank, before any engine opens or any point runs.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import { agreePoint, agreeSizing } from '../../lib/api/rank-agree.js';
import type { RankGroup } from '../../lib/api/rendezvous.js';
import { DeviceError } from '../../lib/base/errors.js';
import type { NativeEngineInfo } from '../../lib/bridge/native.js';
import { runCli } from './cli-helpers.js';
import { NO_NCCL, fakeAddon } from './fake-addon.js';
import { asRank0 } from './launch-helpers.js';

const state = vi.hoisted(() => ({ addon: undefined as unknown }));
vi.mock('../../lib/bridge/native.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/bridge/native.js')>()),
  loadAddon: () => state.addon,
}));

const grid = { batchSizes: [1], inputLens: [8], outputLens: [2] };
const point = { batchSize: 1, inputLen: 8, outputLen: 2 };

/** What rank 1's sweep does around the one point: its sizing, its word that it runs the point, then its outcome (failed). */
async function rank1Runs(group: RankGroup): Promise<void> {
  const info = { kvPoolTokens: 1 << 20, kvBytesPerToken: 0, blockSize: 16 } as NativeEngineInfo;
  await agreeSizing(group, info, { kvPoolTokens: undefined, gridKvTokens: 16 });
  expect(await agreePoint(group, 0, point, undefined)).toBeUndefined();
  await group.gather(0, { ok: false, code: 'ERR_TIMEOUT', message: 'rank 1 stands in' });
}

afterEach(() => vi.unstubAllEnvs());

describe('a launch\'s ids', () => {
  it('tp 2 on CUDA: rank 0 makes dp + tp NCCL ids, hands them out, and opens its own rank with them', async () => {
    const addon = fakeAddon({ cuda: true });
    const rank1 = await asRank0();
    const run = sweep({ model: 'tiny-llama', addon, device: 'cuda', tp: 2, ...grid });
    const group = await rank1();
    expect(group.id.equals(Buffer.alloc(3 * 128, 7))).toBe(true);
    await rank1Runs(group);
    await group.close();
    const result = await run;
    expect(addon.log.events.filter((e) => e.startsWith('ncclUniqueIds'))).toEqual(['ncclUniqueIds 3']);
    expect(addon.log.engines[0]?.opts).toMatchObject({ device: 'cuda:0', parallel: { tp: 2, ep: 1, dp: 1, simulate: false, process: { rank: 0, world: 2 } } });
    expect(addon.log.engines[0]?.opts.parallel?.process?.ids.equals(group.id)).toBe(true);
    expect(result.points[0]).toMatchObject({ ok: false, error: { message: 'rank 1: rank 1 stands in' } });
  });

  it('dp 2 of a dense model: no collective, so no NCCL: bytes of the same layout nobody joins with', async () => {
    const addon = fakeAddon({ cuda: true, nccl: false });
    const rank1 = await asRank0();
    const run = sweep({ model: 'tiny-llama', addon, device: 'cuda', dp: 2, ...grid });
    const group = await rank1();
    expect(group.id.length).toBe(3 * 128);
    await rank1Runs(group);
    await group.close();
    await run;
    expect(addon.log.events.some((e) => e.startsWith('ncclUniqueIds'))).toBe(false);
    expect(addon.log.engines[0]?.opts.parallel).toMatchObject({ tp: 1, dp: 2, process: { rank: 0, world: 2, ids: group.id } });
  });

  it('no NCCL: the one ERR_DEVICE line on every rank, before any engine or point; the CLI prints it and exits 1', async () => {
    const addon = fakeAddon({ cuda: true, nccl: false });
    state.addon = addon;
    const rank1 = await asRank0();
    const onPoint = vi.fn();
    const run = sweep({ model: 'tiny-llama', addon, device: 'cuda', tp: 2, onPoint, ...grid });
    const joined = rank1();
    await expect(run).rejects.toThrow(new DeviceError(NO_NCCL));
    await expect(joined).rejects.toThrow(new DeviceError(NO_NCCL));
    expect([addon.log.engines.length, onPoint.mock.calls.length]).toEqual([0, 0]);

    const again = await asRank0();
    const [cli, other] = await Promise.all([runCli(['run', '--model', 'tiny-llama', '--tp', '2', '--batch', '1', '--input-len', '8', '--output-len', '2']), again().catch((e: unknown) => e)]);
    expect(cli.code).toBe(1);
    expect(cli.stderr.endsWith(`\ngpubench: error: ${NO_NCCL}\n`)).toBe(true);
    expect(cli.stdout).toBe(''); // no point ran
    expect(other).toEqual(new DeviceError(NO_NCCL));
  });
});
