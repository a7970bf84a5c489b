// API misuse from an embedding program, against the real CPU addon: every case ends in a typed
// error or a correct result, never a crash, a hang or a leaked thread. docs/reliability.md lists
// the outcomes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { AbortError, CallbackError, InvalidArgumentError } from '../../lib/base/errors.js';
import { benchOneBatch, sweep } from '../../lib/api/bench.js';
import { nativeOptions, openEngine, point, prompt, root, runFullPoint } from './fixtures.js';

// Given peaks skip their measurement (seconds on a shared CPU), which these tests do not look at.
const sweepOptions = {
  model: 'tiny-llama', layers: 1, device: 'cpu', batchSizes: [1, 2], inputLens: [8], outputLens: [3], threads: 1,
  peaks: { flopsPerS: 1e10, bytesPerS: 1e10 },
};

describe('calls on a closed engine', () => {
  it('every job rejects and every sync call throws InvalidArgumentError; cancel is a no-op', async () => {
    const engine = await openEngine();
    await engine.close();
    await expect(engine.runPoint(point())).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.generate(prompt(4), 1)).rejects.toThrow(/^engine: already closed/);
    await expect(engine.measurePeaks()).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => engine.submit(prompt(4))).toThrow(InvalidArgumentError);
    expect(() => engine.info()).toThrow(InvalidArgumentError);
    expect(() => engine.cancel()).not.toThrow();
  });

  it('close() twice, in sequence and at once, resolves', async () => {
    const engine = await openEngine();
    await Promise.all([engine.close(), engine.close()]);
    await expect(engine.close()).resolves.toBeUndefined();
  });

  it('close() while a point waits for its batch rejects that point with AbortError', async () => {
    const engine = await openEngine();
    const job = engine.runPoint(point()).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    await engine.close();
    expect(await job).toBeInstanceOf(AbortError);
  });
});

describe('two jobs at once on one engine', () => {
  it('a second runPoint rejects with InvalidArgumentError and the first still completes', async () => {
    const engine = await openEngine();
    try {
      const first = runFullPoint(engine, point());
      await expect(engine.runPoint(point())).rejects.toThrow(/^engine: runPoint called while runPoint runs \(allowed: /);
      const r = await first;
      expect(r.decodeStepMs.length).toBeGreaterThan(0);
      // The engine is free again once the first settles.
      expect((await runFullPoint(engine, point())).decodeStepMs.length).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });

  it('generate during generate, and runPoint during generate, reject; the running generate is unaffected', async () => {
    const engine = await openEngine();
    try {
      const alone = await engine.generate(prompt(8), 3);
      const first = engine.generate(prompt(8), 3);
      await expect(engine.generate(prompt(8), 3)).rejects.toThrow(/^engine: generate called while generate runs/);
      await expect(engine.runPoint(point())).rejects.toBeInstanceOf(InvalidArgumentError);
      expect((await first).tokens).toEqual(alone.tokens);
    } finally {
      await engine.close();
    }
  });
});

describe('two engines on one device at once', () => {
  it('run side by side and give the same tokens as one alone', async () => {
    const [a, b] = await Promise.all([openEngine(), openEngine()]);
    try {
      const alone = await a.generate(prompt(8), 4);
      const [ga, gb, pa, pb] = await Promise.all([
        a.generate(prompt(8), 4).then(async (g) => [g, await runFullPoint(a, point())] as const),
        b.generate(prompt(8), 4).then(async (g) => [g, await runFullPoint(b, point())] as const),
      ]).then(([x, y]) => [x[0], y[0], x[1], y[1]] as const);
      expect(ga.tokens).toEqual(alone.tokens);
      expect(gb.tokens).toEqual(alone.tokens);
      expect(pa.decodeStepMs.length).toBe(pb.decodeStepMs.length);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

function threadCount(): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}

// A closed engine keeps its (idle) thread until its JS object is collected, so the engines of the
// tests before hold threads until some GC: collect them, and wait for the count to settle, before
// counting; otherwise a GC during the cycles makes the count drop below the baseline.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
async function settledThreadCount(): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    gc();
    await sleep(20);
    const now = threadCount();
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function workerCycle(action: 'close' | 'hold'): Promise<unknown> {
  const w = new Worker(path.join(root, 'test/misuse/engine-worker.mjs'), {
    workerData: { root, options: nativeOptions, point: point({ batchTimeoutMs: 60_000 }), action },
  });
  const exited = new Promise<number>((resolve) => w.once('exit', resolve));
  const message = await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  if (action === 'hold') await w.terminate();
  await exited;
  return message;
}

describe('engines in worker_threads', () => {
  it('workers that close their engine, and workers terminated with an engine open and a point waiting, leave no thread behind', async () => {
    // The main thread's own engine first, so the pool threads it keeps are in the baseline.
    const engine = await openEngine();
    const expected = await engine.generate(prompt(8), 2);
    const baseline = await settledThreadCount();
    const cycles = 10;
    for (let i = 0; i < cycles; i++) {
      expect(await workerCycle('close')).toEqual({ tokens: expect.any(Array) });
      expect(await workerCycle('hold')).toEqual({ holding: true });
    }
    // Each engine has its own thread and pool; a leak would leave `cycles` of them here.
    expect(await settledThreadCount()).toBe(baseline);
    expect((await engine.generate(prompt(8), 2)).tokens).toEqual(expected.tokens);
    await engine.close();
  }, 120_000);
});

describe('a process that ends with an engine open', () => {
  const child = (how: string) =>
    spawnSync(process.execPath, [path.join(root, 'test/misuse/engine-exit.mjs'), how, root, JSON.stringify({ options: nativeOptions, point: point({ batchTimeoutMs: 60_000 }) })], {
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('process.exit(0) while a point waits: exit code 0, no signal', () => {
    const r = child('exit');
    expect([r.status, r.signal], r.stderr).toEqual([0, null]);
  });

  it('an uncaught exception while a point waits: exit code 1 with the exception, no abort', () => {
    const r = child('uncaught');
    expect([r.status, r.signal]).toEqual([1, null]);
    expect(r.stderr).toContain('uncaught while an engine is open');
    expect(r.stderr).not.toMatch(/FATAL|terminate called|Aborted/);
  });

  it('the event loop running dry with an idle engine open: exit code 0', () => {
    const r = child('return');
    expect([r.status, r.signal], r.stderr).toEqual([0, null]);
  });
});

describe('AbortSignal and callbacks', () => {
  it('an already aborted signal rejects sweep and benchOneBatch with AbortError and no results', async () => {
    const signal = AbortSignal.abort();
    const e = await sweep({ ...sweepOptions, signal }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortError);
    expect((e as AbortError).results).toEqual([]);
    await expect(benchOneBatch({ model: 'tiny-llama', layers: 1, device: 'cpu', batchSize: 1, inputLen: 8, outputLen: 2, signal })).rejects.toBeInstanceOf(
      AbortError,
    );
  });

  it.each(['onProgress', 'onPoint'] as const)('a throwing %s rejects the sweep with CallbackError carrying the thrown error', async (name) => {
    const thrown = new Error('callback bug');
    let calls = 0;
    const e = await sweep({
      ...sweepOptions,
      [name]: () => {
        calls++;
        throw thrown;
      },
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CallbackError);
    expect((e as CallbackError).message).toBe(`${name}: the callback threw (callback bug) (allowed: a callback that returns without throwing)`);
    expect((e as CallbackError).cause).toBe(thrown);
    // The run stopped at the first throw.
    expect(calls).toBe(1);
  });

  it('Engine.runPoint with a throwing onProgress cancels the point, rejects with CallbackError, and the engine runs the next point', async () => {
    const engine = await openEngine();
    try {
      await expect(
        runFullPoint(engine, point(), () => {
          throw new Error('progress bug');
        }),
      ).rejects.toBeInstanceOf(CallbackError);
      expect((await runFullPoint(engine, point())).decodeStepMs.length).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });
});
