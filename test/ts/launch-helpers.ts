// A launch's pieces for tests: a free port for rank 0, and this test process as rank 0 of a
// torchrun launch of two whose rank 1 the test plays over the real rendezvous.
import net from 'node:net';
import { vi } from 'vitest';
import { rendezvous, type RankGroup } from '../../lib/api/rendezvous.js';

/** A port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** torchrun's variables for `rank` of a launch of `world` whose rank 0 listens on `port`. */
export const torchrunEnv = (rank: number, world: number, port: number): Record<string, string> =>
  ({ RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });

/** This process as rank 0 of a torchrun launch of two (until vi.unstubAllEnvs); returns how rank 1 joins it. */
export async function asRank0(): Promise<() => Promise<RankGroup>> {
  const port = await freePort();
  for (const [k, v] of Object.entries(torchrunEnv(0, 2, port))) vi.stubEnv(k, v);
  return () => rendezvous({ rank: 1, world: 2, addr: '127.0.0.1', port, makeId: () => Buffer.alloc(0), timeoutMs: 10_000 });
}
