// The public API against the real addon (CPU backend); skipped until build/Release/gpubench.node exists.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../lib/bridge/engine.js';
import { benchOneBatch, sweep } from '../../lib/api/bench.js';
import { AbortError, InvalidArgumentError } from '../../lib/base/errors.js';
import { makeInputIds } from '../../lib/api/requests.js';
import type { PointOutcome } from '../../lib/api/result.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const addonBuilt = existsSync(path.join(root, 'build/Release/gpubench.node'));

describe.skipIf(!addonBuilt)('Engine (real addon, CPU)', () => {
  it('opens, generates logits deterministically, and closes', async () => {
    const e = await Engine.open({ model: 'tiny-llama', layers: 2, device: 'cpu', maxBatch: 1, maxContext: 32, threads: 2 });
    try {
      const info = e.info();
      expect(info).toMatchObject({ device: 'cpu', dtype: 'f32', blockSize: 16 });
      expect(info.kvPoolTokens).toBeGreaterThanOrEqual(32);
      const ids = makeInputIds(1, 0, 8, e.spec.vocabSize);
      const a = await e.generate(ids, 3);
      expect(a.tokens).toHaveLength(4);
      expect(a.logits).toHaveLength(4);
      expect(a.logits[0]).toHaveLength(e.spec.vocabSize);
      const b = await e.generate(ids, 3);
      expect(b.tokens).toEqual(a.tokens);
      await expect(e.generate(new Int32Array([e.spec.vocabSize]), 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    } finally {
      await e.close();
    }
    await e.close(); // idempotent
    expect(() => e.info()).toThrow(InvalidArgumentError);
  });

  it('benchOneBatch measures a point', async () => {
    const r = await benchOneBatch({ model: 'tiny-llama', layers: 1, device: 'cpu', batchSize: 2, inputLen: 16, outputLen: 5, threads: 2 });
    expect(r.ok).toBe(true);
    expect(r.prefillMs).toBeGreaterThan(0);
    expect(r.decodeStepMs).toHaveLength(4);
    expect(r.decodeContext).toEqual([17, 18, 19, 20]);
    expect(r.decodeFloorMs).toBeGreaterThan(0);
    expect(r.decodeRatio).toBeGreaterThan(0);
    expect(r.firstRequestTokens).toHaveLength(5);
    // No NVML on a CPU device: no telemetry, and the reason.
    expect(r.telemetry).toBeNull();
    expect(r.telemetryReason).toBe('no NVML: CPU device');
  });

  it('a sweep reports a point that does not fit and goes on', async () => {
    const r = await sweep({
      model: 'tiny-llama', layers: 1, device: 'cpu', batchSizes: [1, 32, 2], inputLens: [16], outputLens: [2], kvPoolTokens: 128, threads: 2,
    });
    expect(r.points.map((p) => p.ok)).toEqual([true, false, true]);
    const f = r.points[1]!;
    if (!f.ok) expect(f.error.code).toBe('ERR_DOES_NOT_FIT');
  });

  it('points that do not fit take nothing from the pool: small points after them still fill it', async () => {
    // The small points need 96 and then all 128 tokens of the pool (2 blocks of 16 per request), so a
    // block that a refused or an earlier point kept would make the last point fail.
    const r = await sweep({
      model: 'tiny-llama', layers: 1, device: 'cpu', batchSizes: [32, 3, 33, 4], inputLens: [16], outputLens: [2], kvPoolTokens: 128, threads: 2,
    });
    expect(r.engine.kvPoolTokens).toBe(128);
    expect(r.points.map((p) => [p.batchSize, p.ok ? 'ok' : p.error.code])).toEqual([
      [32, 'ERR_DOES_NOT_FIT'], [3, 'ok'], [33, 'ERR_DOES_NOT_FIT'], [4, 'ok'],
    ]);
  });

  it('an abort stops the sweep between steps', async () => {
    const ac = new AbortController();
    const seen: PointOutcome[] = [];
    const err = await sweep({
      model: 'tiny-llama', layers: 1, device: 'cpu', batchSizes: [1, 2], inputLens: [16], outputLens: [5000], mode: 'decode', threads: 2,
      signal: ac.signal,
      onPoint: (p) => seen.push(p),
      onProgress: (p) => {
        if (p.phase === 'timed' && p.step >= 5) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(seen).toHaveLength(0);
  });
});
