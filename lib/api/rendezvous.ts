// The ranks of a launch meet over TCP (docs/design.md, "Ranks, rendezvous and merge"): rank 0 listens on MASTER_PORT,
// every other rank connects to MASTER_ADDR:MASTER_PORT and says its rank and world size; once all
// have come, rank 0 hands each the same opaque id (the caller's makeId: the NCCL unique ids the
// processes' groups join by), or, where makeId fails, its error, which every rank then fails with.
// Afterwards the connections carry what every rank must agree on (allGather: rank 0 collects every
// rank's value and sends the whole list back to each), each rank's per-point results to rank 0
// (gather), and rank 0's last word (close). Messages are JSON lines.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceError, InvalidArgumentError, TimeoutError, errorForCode, fromNative, type ErrorCode, type GpubenchError } from '../base/errors.js';

export interface RendezvousOptions {
  rank: number;
  world: number;
  /** Rank 0's host (MASTER_ADDR) and port (MASTER_PORT). */
  addr: string;
  port: number;
  /** Called on rank 0 only: the id every rank receives. Where it throws, every rank fails with its error. */
  makeId: () => Buffer;
  /** How long rank 0 waits for every rank, and the others for rank 0. */
  timeoutMs?: number;
}

/** The ranks once met. */
export interface RankGroup {
  readonly rank: number;
  readonly world: number;
  /** The id rank 0 made, the same on every rank. */
  readonly id: Buffer;
  /**
   * Exchange `index` (each rank calls 0, 1, 2, … in order): rank 0 gets every rank's value in rank
   * order; another rank sends its value and gets undefined. Rejects when a rank has left or failed.
   */
  gather<T>(index: number, value: T): Promise<T[] | undefined>;
  /**
   * Every rank's value of the exchange `label` (each rank calls the same labels in the same order),
   * in rank order, on every rank: what the ranks decide from it they decide alike. Rejects when a
   * rank has left or failed, or rank 0 has ended.
   */
  allGather<T>(label: string, value: T): Promise<T[]>;
  /**
   * Ends this rank's part. Rank 0 tells every rank the run is over (with `failure`, why); another
   * rank with `failure` tells rank 0 why it stops, else waits for rank 0's word.
   */
  close(failure?: string): Promise<void>;
}

export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = 300_000;

type Message =
  | { type: 'hello'; rank: number; world: number }
  | { type: 'id'; id: string }
  | { type: 'no-id'; code: ErrorCode; message: string }
  | { type: 'refused'; message: string }
  | { type: 'gather'; index: number; value: unknown }
  | { type: 'share'; label: string; value: unknown }
  | { type: 'shared'; label: string; values: unknown[] }
  | { type: 'failed'; message: string }
  | { type: 'done'; failure?: string };

const ALLOWED = 'every rank started with the same WORLD_SIZE, MASTER_ADDR and MASTER_PORT';

function send(socket: net.Socket, m: Message): void {
  if (!socket.destroyed) socket.write(JSON.stringify(m) + '\n');
}

/** Calls `on` with each JSON line the socket receives. */
function onMessages(socket: net.Socket, on: (m: Message) => void): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() !== '') on(JSON.parse(line) as Message);
    }
  });
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * Values one connection brought, in arrival order, each taken by the key it must carry; a failure
 * rejects the taker once the values that came before it are taken.
 */
class Inbox<K> {
  private readonly values: { key: K; value: unknown }[] = [];
  private waiter: { resolve: (v: { key: K; value: unknown }) => void; reject: (e: GpubenchError) => void } | undefined;
  private failure: GpubenchError | undefined;

  push(key: K, value: unknown): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w.resolve({ key, value });
    else this.values.push({ key, value });
  }

  fail(e: GpubenchError): void {
    this.failure ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  /** The next value; `stray` is the error for one that carries another key. */
  async next(key: K, stray: (got: K) => GpubenchError): Promise<unknown> {
    const got = this.values.shift() ?? (await new Promise<{ key: K; value: unknown }>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.waiter = { resolve, reject };
    }));
    if (got.key !== key) throw stray(got.key);
    return got.value;
  }
}

/** One connection of rank 0 to another rank: its results and its shares, each in arrival order. */
class Peer {
  readonly results = new Inbox<number>();
  readonly shares = new Inbox<string>();

  constructor(readonly rank: number, readonly socket: net.Socket) {}

  receive(m: Message): void {
    if (m.type === 'gather') this.results.push(m.index, m.value);
    else if (m.type === 'share') this.shares.push(m.label, m.value);
    else if (m.type === 'failed') this.fail(new DeviceError(`rank ${this.rank} failed: ${m.message}`));
  }

  fail(e: GpubenchError): void {
    this.results.fail(e);
    this.shares.fail(e);
  }

  result(index: number): Promise<unknown> {
    return this.results.next(index, (got) => new DeviceError(`rank ${this.rank} sent result ${got} where rank 0 waits for ${index} (allowed: every rank runs the same points)`));
  }

  share(label: string): Promise<unknown> {
    return this.shares.next(label, (got) => new DeviceError(`rank ${this.rank} sent '${got}' where rank 0 waits for '${label}' (allowed: every rank runs the same points)`));
  }
}

async function listen(o: RendezvousOptions, timeoutMs: number): Promise<RankGroup> {
  const where = `${o.addr}:${o.port}`;
  const server = net.createServer();
  const peers = new Map<number, Peer>();
  let closing = false;
  const met = new Promise<void>((resolve, reject) => {
    const stop = (e: GpubenchError) => {
      clearTimeout(timer);
      for (const p of peers.values()) p.socket.destroy();
      server.close();
      reject(e);
    };
    const timer = setTimeout(() => {
      const missing = Array.from({ length: o.world - 1 }, (_, i) => i + 1).filter((r) => !peers.has(r));
      stop(new TimeoutError(`rendezvous: ${peers.size + 1} of ${o.world} ranks arrived at ${where} within ${seconds(timeoutMs)} (missing: rank ${missing.join(', ')}) (allowed: ${ALLOWED})`));
    }, timeoutMs);
    server.on('error', (e: NodeJS.ErrnoException) => {
      stop(new InvalidArgumentError(`rendezvous: rank 0 cannot listen on port ${o.port} (${e.code ?? e.message}) (allowed: a free MASTER_PORT)`, { field: 'MASTER_PORT' }));
    });
    server.on('connection', (socket) => {
      let peer: Peer | undefined;
      socket.on('error', () => {}); // a reset shows as 'close', handled below
      socket.on('close', () => {
        if (!closing) peer?.fail(new DeviceError(`rendezvous: rank ${peer.rank} left the run (its connection to ${where} closed) (allowed: every rank runs to the end)`));
      });
      onMessages(socket, (m) => {
        if (peer) return peer.receive(m);
        if (m.type !== 'hello') return;
        const refuse = (message: string) => {
          send(socket, { type: 'refused', message });
          socket.end();
          stop(new InvalidArgumentError(message));
        };
        if (m.world !== o.world) return refuse(`rendezvous: rank ${m.rank} says WORLD_SIZE ${m.world}, rank 0 has ${o.world} (allowed: ${ALLOWED})`);
        if (!Number.isInteger(m.rank) || m.rank < 1 || m.rank >= o.world) return refuse(`rendezvous: rank ${m.rank} is not allowed (allowed: 1 to ${o.world - 1} besides rank 0)`);
        if (peers.has(m.rank)) return refuse(`rendezvous: rank ${m.rank} arrived twice at ${where} (allowed: each rank once)`);
        peer = new Peer(m.rank, socket);
        peers.set(m.rank, peer);
        if (peers.size === o.world - 1) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    server.listen(o.port);
  });
  await met;
  server.close(); // no more ranks: the connections stay open
  let id: Buffer;
  try {
    id = o.makeId();
  } catch (e) {
    const err = fromNative(e);
    closing = true;
    for (const p of peers.values()) {
      send(p.socket, { type: 'no-id', code: err.code, message: err.message });
      p.socket.end();
    }
    throw err;
  }
  for (const p of peers.values()) send(p.socket, { type: 'id', id: id.toString('base64') });
  const ordered = [...peers.values()].sort((a, b) => a.rank - b.rank);
  return {
    rank: 0,
    world: o.world,
    id,
    async gather<T>(index: number, value: T): Promise<T[]> {
      const others = await Promise.all(ordered.map((p) => p.result(index)));
      return [value, ...(others as T[])];
    },
    async allGather<T>(label: string, value: T): Promise<T[]> {
      const values = [value, ...((await Promise.all(ordered.map((p) => p.share(label)))) as T[])];
      for (const p of ordered) send(p.socket, { type: 'shared', label, values });
      return values;
    },
    async close(failure?: string) {
      closing = true;
      for (const p of ordered) {
        send(p.socket, { type: 'done', ...(failure !== undefined ? { failure } : {}) });
        p.socket.end();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connects to rank 0, retrying until it listens or the time is up. */
async function connect(o: RendezvousOptions, deadline: number, timeoutMs: number): Promise<net.Socket> {
  for (;;) {
    const socket = await new Promise<net.Socket | undefined>((resolve) => {
      const s = net.connect({ host: o.addr, port: o.port });
      s.once('connect', () => resolve(s));
      s.once('error', () => {
        s.destroy();
        resolve(undefined);
      });
    });
    if (socket) return socket;
    if (Date.now() >= deadline) {
      throw new TimeoutError(`rendezvous: rank 0 at ${o.addr}:${o.port} did not answer within ${seconds(timeoutMs)} (allowed: ${ALLOWED}, rank 0 among them)`);
    }
    await sleep(100);
  }
}

async function join(o: RendezvousOptions, timeoutMs: number): Promise<RankGroup> {
  const where = `${o.addr}:${o.port}`;
  const deadline = Date.now() + timeoutMs;
  const socket = await connect(o, deadline, timeoutMs);
  let stopped: string | undefined; // why rank 0 can no longer take results
  let done: () => void = () => {};
  const ended = new Promise<void>((resolve) => (done = resolve));
  const shared = new Inbox<string>(); // rank 0's lists of every rank's values
  const end = (why: string) => {
    stopped ??= why;
    shared.fail(new DeviceError(`rendezvous: ${stopped} while rank ${o.rank} waits for the ranks' values (allowed: every rank runs to the end)`));
    done();
  };
  const id = await new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TimeoutError(`rendezvous: rank 0 at ${where} handed no id within ${seconds(timeoutMs)}: not every rank arrived (allowed: ${ALLOWED})`));
    }, Math.max(0, deadline - Date.now()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      end(`rank 0 at ${where} closed the connection`);
      reject(new DeviceError(`rendezvous: ${stopped} before handing the id (allowed: ${ALLOWED})`));
    });
    onMessages(socket, (m) => {
      if (m.type === 'id') {
        clearTimeout(timer);
        resolve(Buffer.from(m.id, 'base64'));
      } else if (m.type === 'no-id') {
        clearTimeout(timer);
        stopped = `rank 0 could not make the id: ${m.message}`;
        reject(errorForCode(m.code, m.message));
      } else if (m.type === 'refused') {
        clearTimeout(timer);
        stopped = `rank 0 refused this rank: ${m.message}`;
        reject(new InvalidArgumentError(m.message));
      } else if (m.type === 'shared') {
        shared.push(m.label, m.values);
      } else if (m.type === 'done') {
        end(m.failure !== undefined ? `rank 0 failed: ${m.failure}` : 'rank 0 ended the run');
      }
    });
    send(socket, { type: 'hello', rank: o.rank, world: o.world });
  });
  return {
    rank: o.rank,
    world: o.world,
    id,
    async gather<T>(index: number, value: T): Promise<undefined> {
      if (stopped !== undefined) throw new DeviceError(`rendezvous: ${stopped} before result ${index} of rank ${o.rank} (allowed: every rank runs to the end)`);
      send(socket, { type: 'gather', index, value });
      return undefined;
    },
    async allGather<T>(label: string, value: T): Promise<T[]> {
      if (stopped !== undefined) throw new DeviceError(`rendezvous: ${stopped} before '${label}' of rank ${o.rank} (allowed: every rank runs to the end)`);
      send(socket, { type: 'share', label, value });
      return (await shared.next(label, (got) => new DeviceError(`rank 0 sent '${got}' where rank ${o.rank} waits for '${label}' (allowed: every rank runs the same points)`))) as T[];
    },
    async close(failure?: string) {
      if (failure !== undefined) send(socket, { type: 'failed', message: failure });
      else await ended;
      socket.end();
    },
  };
}

/** Meets the other ranks: rank 0 listens, the others connect. */
export async function rendezvous(o: RendezvousOptions): Promise<RankGroup> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_RENDEZVOUS_TIMEOUT_MS;
  return o.rank === 0 ? listen(o, timeoutMs) : join(o, timeoutMs);
}
