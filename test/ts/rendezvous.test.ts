// The ranks' meeting over TCP (lib/api/rendezvous.ts), with every rank in this process: the id, the
// gathering of results, the exchanges every rank gets back whole, and the ways it fails (a rank that never comes, a wrong world size, a rank
// that fails afterwards), each one line.
import { describe, expect, it } from 'vitest';
import { rendezvous, type RankGroup } from '../../lib/api/rendezvous.js';
import { DeviceError, InvalidArgumentError, TimeoutError } from '../../lib/base/errors.js';
import { freePort } from './launch-helpers.js';

const id = Buffer.from('0123456789abcdef');

async function meet(world: number, port: number, timeoutMs = 5000): Promise<RankGroup[]> {
  return Promise.all(
    Array.from({ length: world }, (_, rank) => rendezvous({ rank, world, addr: '127.0.0.1', port, makeId: () => id, timeoutMs })),
  );
}

describe('rendezvous', () => {
  it('rank 0 hands every rank its id, then gathers each exchange in rank order; the close is clean', async () => {
    const port = await freePort();
    // Rank 2 starts before rank 0 listens: it retries until rank 0 is there.
    const late = rendezvous({ rank: 2, world: 3, addr: '127.0.0.1', port, makeId: () => Buffer.alloc(0), timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 150));
    const groups = await Promise.all([
      rendezvous({ rank: 0, world: 3, addr: '127.0.0.1', port, makeId: () => id, timeoutMs: 5000 }),
      rendezvous({ rank: 1, world: 3, addr: '127.0.0.1', port, makeId: () => Buffer.alloc(0), timeoutMs: 5000 }),
      late,
    ]);
    for (const g of groups) expect(g.id.equals(id)).toBe(true);
    const [r0, r1, r2] = groups as [RankGroup, RankGroup, RankGroup];
    for (let i = 0; i < 2; i++) {
      expect(await r2.gather(i, { rank: 2, i })).toBeUndefined();
      expect(await r1.gather(i, { rank: 1, i })).toBeUndefined();
      expect(await r0.gather(i, { rank: 0, i })).toEqual([{ rank: 0, i }, { rank: 1, i }, { rank: 2, i }]);
    }
    await Promise.all([r1.close(), r2.close(), r0.close()]);
  });

  it('a rank that never comes: rank 0 times out naming the address, the ranks arrived and the missing', async () => {
    const port = await freePort();
    const r0 = rendezvous({ rank: 0, world: 3, addr: '127.0.0.1', port, makeId: () => id, timeoutMs: 400 });
    const r1 = rendezvous({ rank: 1, world: 3, addr: '127.0.0.1', port, makeId: () => id, timeoutMs: 400 });
    await expect(r0).rejects.toThrow(new TimeoutError(`rendezvous: 2 of 3 ranks arrived at 127.0.0.1:${port} within 0.4 s (missing: rank 2) (allowed: every rank started with the same WORLD_SIZE, MASTER_ADDR and MASTER_PORT)`));
    await expect(r1).rejects.toThrow(/^rendezvous: /); // rank 0's timeout, or its own: whichever comes first
  });

  it('no rank 0: a rank times out naming where it looked', async () => {
    const port = await freePort();
    await expect(rendezvous({ rank: 1, world: 2, addr: '127.0.0.1', port, makeId: () => id, timeoutMs: 300 })).rejects.toThrow(
      `rendezvous: rank 0 at 127.0.0.1:${port} did not answer within 0.3 s`,
    );
  });

  it('a wrong world size fails rank 0 and the rank, with the same line', async () => {
    const port = await freePort();
    const r0 = rendezvous({ rank: 0, world: 2, addr: '127.0.0.1', port, makeId: () => id, timeoutMs: 3000 });
    const r1 = rendezvous({ rank: 1, world: 3, addr: '127.0.0.1', port, makeId: () => id, timeoutMs: 3000 });
    const line = 'rendezvous: rank 1 says WORLD_SIZE 3, rank 0 has 2 (allowed: every rank started with the same WORLD_SIZE, MASTER_ADDR and MASTER_PORT)';
    await expect(r0).rejects.toThrow(new InvalidArgumentError(line));
    await expect(r1).rejects.toThrow(new InvalidArgumentError(line));
  });

  it('rank 0 cannot make the id: every rank fails with its error, code and line', async () => {
    const port = await freePort();
    const line = 'tp * dp > 1 on CUDA needs NCCL: libnccl.so.2 not found (install NCCL 2)';
    const fails = () => { throw Object.assign(new Error(line), { code: 'ERR_DEVICE' }); };
    const ranks = Array.from({ length: 3 }, (_, rank) => rendezvous({ rank, world: 3, addr: '127.0.0.1', port, makeId: fails, timeoutMs: 3000 }));
    for (const r of ranks) {
      const e = await r.then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(DeviceError);
      expect((e as DeviceError).message).toBe(line);
    }
  });

  it('a rank that fails after the meeting: rank 0 learns why at its next gather', async () => {
    const port = await freePort();
    const [r0, r1] = (await meet(2, port)) as [RankGroup, RankGroup];
    await r1.close('engine: out of memory');
    await expect(r0.gather(0, 'mine')).rejects.toThrow(new DeviceError('rank 1 failed: engine: out of memory'));
    await r0.close();
  });

  it('rank 0 that ends early: a rank learns it at its next gather', async () => {
    const port = await freePort();
    const [r0, r1] = (await meet(2, port)) as [RankGroup, RankGroup];
    await r0.close();
    await new Promise((r) => setTimeout(r, 50));
    await expect(r1.gather(0, 'x')).rejects.toBeInstanceOf(DeviceError);
    await r1.close();
  });

  it('an exchange gives every rank every rank\'s value in rank order, whatever order they come in, between gathers', async () => {
    const port = await freePort();
    const [r0, r1, r2] = (await meet(3, port)) as [RankGroup, RankGroup, RankGroup];
    for (const label of ['engine sizing', 'point 0']) {
      const late = r0.allGather(label, `${label} of 0`);
      await new Promise((r) => setTimeout(r, 20)); // rank 0 waits first this time
      const got = await Promise.all([r2.allGather(label, `${label} of 2`), r1.allGather(label, `${label} of 1`), late]);
      for (const values of got) expect(values).toEqual([0, 1, 2].map((r) => `${label} of ${r}`));
      // A result sent between two exchanges stays the result's.
      await r1.gather(0, 'result 1');
      await r2.gather(0, 'result 2');
      expect(await r0.gather(0, 'result 0')).toEqual(['result 0', 'result 1', 'result 2']);
    }
    await Promise.all([r1.close(), r2.close(), r0.close()]);
  });

  it('a rank at another exchange: rank 0 says which, and the rank learns that rank 0 failed, in one line each', async () => {
    const port = await freePort();
    const [r0, r1] = (await meet(2, port)) as [RankGroup, RankGroup];
    const waiting = r1.allGather('point 1', 'x').catch((e: unknown) => e);
    const stray = new DeviceError("rank 1 sent 'point 1' where rank 0 waits for 'point 0' (allowed: every rank runs the same points)");
    await expect(r0.allGather('point 0', 'y')).rejects.toThrow(stray);
    await r0.close(stray.message);
    expect(await waiting).toEqual(new DeviceError(`rendezvous: rank 0 failed: ${stray.message} while rank 1 waits for the ranks' values (allowed: every rank runs to the end)`));
    await r1.close();
  });

  it('a rank that fails while rank 0 waits in an exchange: rank 0 learns why', async () => {
    const port = await freePort();
    const [r0, r1] = (await meet(2, port)) as [RankGroup, RankGroup];
    const waiting = r0.allGather('point 0', 'mine');
    await r1.close('engine: out of memory');
    await expect(waiting).rejects.toThrow(new DeviceError('rank 1 failed: engine: out of memory'));
    await r0.close();
  });
});
