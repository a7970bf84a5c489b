// The protocol of lib/api/bench.ts against the fake addon (test/ts/fake-addon.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchOneBatch, sweep } from '../../lib/api/bench.js';
import { AbortError, DoesNotFitError, InvalidArgumentError } from '../../lib/base/errors.js';
import { makeInputIds } from '../../lib/api/requests.js';
import { decodeStepCost, floorMs, prefillCost } from '../../lib/api/metrics.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import type { PointOutcome, PointResult } from '../../lib/api/result.js';
import type { ProgressEvent } from '../../lib/api/options.js';
import { fakeAddon } from './fake-addon.js';

const model = 'tiny-llama';

describe('sweep protocol', () => {
  it('uses one engine sized for the largest point, measures peaks once per sweep, closes it', async () => {
    const addon = fakeAddon();
    const r = await sweep({ model, addon, device: 'cpu', batchSizes: [1, 4], inputLens: [8, 32], outputLens: [4] });
    expect(addon.log.engines).toHaveLength(1);
    const e = addon.log.engines[0]!;
    expect(e.opts).toMatchObject({ device: 'cpu', seed: 42, maxBatch: 4, maxContext: 36, maxTokensPerStep: 128, blockSize: 16 });
    expect(e.opts.kvPoolTokens).toBe(4 * (36 + 16));
    expect(addon.log.events[0]).toBe('open');
    // On the CPU until two measurements agree: the fake's are equal, so twice.
    expect(e.peaksCalls).toBe(2);
    expect(r.peaks).toMatchObject({ flopsPerS: 1e12, bytesPerS: 1e11, attempts: 2, steady: true, spread: { flopsPerS: 0, bytesPerS: 0 } });
    expect(e.closed).toBe(true);
    expect(r.points.map((p) => [p.batchSize, p.inputLen, p.outputLen])).toEqual([[1, 8, 4], [1, 32, 4], [4, 8, 4], [4, 32, 4]]);
    expect(r.points.every((p) => p.ok)).toBe(true);
    expect(r.device).toBe('cpu');
    expect(r.dtype).toBe('f32');
  });

  it("given peaks are used as given, their timed calls kept in every point", async () => {
    const addon = fakeAddon();
    const gemmCalls = { warmup: 5, count: 30, minMs: 1.3, medianMs: 1.31, maxMs: 1.4 };
    const peaks = { bytesPerS: 3e12, flopsPerS: 8e14, gemmCalls };
    const r = await sweep({ model, addon, device: 'cpu', batchSizes: [1], inputLens: [8], outputLens: [2], peaks });
    expect(addon.log.engines[0]!.peaksCalls).toBe(0);
    expect(r.points[0]!.ok && r.points[0]!.peaks).toEqual(peaks);
  });

  it('skipPoints leaves those grid points out of the run, the result and the engine sizing', async () => {
    const addon = fakeAddon();
    const progress: ProgressEvent[] = [];
    const r = await sweep({
      model, addon, device: 'cpu', batchSizes: [1, 4], inputLens: [8, 32], outputLens: [4],
      skipPoints: [{ batchSize: 4, inputLen: 32, outputLen: 4 }, { batchSize: 1, inputLen: 8, outputLen: 4 }, { batchSize: 9, inputLen: 9, outputLen: 9 }],
      onProgress: (p) => progress.push(p),
    });
    expect(r.points.map((p) => [p.batchSize, p.inputLen, p.outputLen])).toEqual([[1, 32, 4], [4, 8, 4]]);
    expect(addon.log.events.filter((e) => e.startsWith('runPoint'))).toEqual(['runPoint bs=1 in=32 out=4', 'runPoint bs=4 in=8 out=4']);
    expect(addon.log.engines[0]!.opts.kvPoolTokens).toBe(Math.max(1 * (36 + 16), 4 * (12 + 16)));
    expect(new Set(progress.map((p) => p.pointCount))).toEqual(new Set([2]));
  });

  it('a skipPoints entry that is not a point is an InvalidArgumentError naming the option', async () => {
    const bad = { model, addon: fakeAddon(), device: 'cpu', batchSizes: [1], inputLens: [8], outputLens: [4], skipPoints: [{ batchSize: 0, inputLen: 8, outputLen: 4 }] };
    await expect(sweep(bad)).rejects.toThrow(/^skipPoints: .* is not allowed \(allowed: a list of \{ batchSize, inputLen, outputLen \}, each a positive integer\)$/);
  });

  it('starts the job, then submits the batch one request at a time with seeded prompts', async () => {
    const addon = fakeAddon();
    await sweep({ model, addon, device: 'cpu', batchSizes: [3], inputLens: [5], outputLens: [2], seed: 7 });
    const ev = addon.log.events;
    const start = ev.indexOf('runPoint bs=3 in=5 out=2');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(ev.slice(start + 1, start + 5)).toEqual(['submit 0', 'submit 1', 'submit 2', 'admitted 3']);
    const e = addon.log.engines[0]!;
    e.submitted.forEach((req, i) => expect(req.inputIds).toEqual(makeInputIds(7, i, 5, 2048)));
    expect(ev.at(-1)).toBe('close');
  });

  it('computes the metrics of the cost model', async () => {
    const addon = fakeAddon({ stepMs: (b, ctx) => 2 + ctx / 100 });
    const r = await benchOneBatch({ model, addon, device: 'cpu', batchSize: 2, inputLen: 10, outputLen: 5, mode: 'both' });
    const spec = resolveModel(model);
    const peaks = { bytesPerS: 1e11, flopsPerS: 1e12 };
    // both: prefill makes token 1, then 4 decode steps at contexts 11..14.
    expect(r.decodeContext).toEqual([11, 12, 13, 14]);
    expect(r.decodeStepMs).toEqual([2.11, 2.12, 2.13, 2.14]);
    expect(r.prefillMs).toBe(20);
    expect(r.prefillTokPerS).toBeCloseTo((2 * 10) / 0.02, 9);
    expect(r.decode!.median).toBeCloseTo(2.125, 12);
    expect(r.decodeTokPerS).toBeCloseTo(2 / 0.002125, 6);
    expect(r.totalMs).toBeCloseTo(20 + 2.11 + 2.12 + 2.13 + 2.14, 9);
    expect(r.overallTokPerS).toBeCloseTo((2 * 15) / (r.totalMs / 1000), 6);
    expect(r.decodeFloorContext).toBe(13); // median of 11..14 = 12.5, rounded
    expect(r.decodeFloorMs).toBeCloseTo(floorMs(decodeStepCost(spec, 2, 13, 4), peaks), 12);
    expect(r.decodeRatio).toBeCloseTo(2.125 / r.decodeFloorMs!, 9);
    expect(r.prefillFloorMs).toBeCloseTo(floorMs(prefillCost(spec, 2, 10, 4), peaks), 12);
    expect(r.prefillMfu).toBeCloseTo(prefillCost(spec, 2, 10, 4).flops / 0.02 / 1e12, 12);
    expect(r.decodeMbu).toBeCloseTo(decodeStepCost(spec, 2, 13, 4).bytes / 0.002125 / 1e11, 9);
    // The peaks' timed calls (the fake's) travel with them into the result.
    const calls = { warmup: 1, count: 3, minMs: 1, medianMs: 1.01, maxMs: 1.02 };
    expect(r.peaks).toEqual({ ...peaks, copyCalls: calls, gemmCalls: calls });
  });

  it('decode mode: no prefill, output_len steps, overall counts only output tokens', async () => {
    const r = await benchOneBatch({ model, addon: fakeAddon(), device: 'cpu', batchSize: 2, inputLen: 10, outputLen: 3, mode: 'decode' });
    expect(r.prefillMs).toBeNull();
    expect(r.prefillTokPerS).toBeNull();
    expect(r.prefillFloorMs).toBeNull();
    expect(r.decodeStepMs).toHaveLength(3);
    expect(r.overallTokPerS).toBeCloseTo((2 * 3) / (r.totalMs / 1000), 6);
  });

  it('prefill mode forces output_len 1 and says so', async () => {
    const addon = fakeAddon();
    const r = await sweep({ model, addon, device: 'cpu', batchSizes: [1], inputLens: [8], outputLens: [16, 32], mode: 'prefill' });
    expect(r.points).toHaveLength(1);
    const p = r.points[0] as PointResult;
    expect(p.outputLen).toBe(1);
    expect(p.notes[0]).toMatch(/output_len forced to 1/);
    expect(p.decode).toBeNull();
    expect(p.decodeTokPerS).toBeNull();
    expect(p.overallTokPerS).toBeCloseTo((8 + 1) / (p.totalMs / 1000), 6);
  });

  it('reports progress and each point as it finishes', async () => {
    const progress: ProgressEvent[] = [];
    const seen: PointOutcome[] = [];
    const r = await sweep({
      model, addon: fakeAddon(), device: 'cpu', batchSizes: [1, 2], inputLens: [4], outputLens: [3], mode: 'decode',
      onProgress: (p) => progress.push(p), onPoint: (p) => seen.push(p),
    });
    expect(seen).toEqual(r.points);
    expect(progress.some((p) => p.phase === 'timed' && p.pointIndex === 1 && p.pointCount === 2 && p.totalSteps === 3)).toBe(true);
    expect(progress[0]!.point).toEqual({ batchSize: 1, inputLen: 4, outputLen: 3 });
  });

  it('an outDir that cannot be a folder is an InvalidArgumentError naming outDir, before the engine opens', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-outdir-')), 'a-file');
    writeFileSync(file, '');
    const addon = fakeAddon();
    const run = benchOneBatch({ model, addon, device: 'cpu', batchSize: 1, inputLen: 4, outputLen: 2, profile: 'decode', outDir: file });
    await expect(run).rejects.toThrow(InvalidArgumentError);
    await expect(run).rejects.toThrow(/^outDir: '.*a-file' cannot be used \(EEXIST\)/);
    expect(addon.log.engines).toHaveLength(0);
  });

  it('aggregates the profiled pass by op kind and names the traces', async () => {
    const outDir = mkdtempSync(path.join(tmpdir(), 'gpubench-trace-'));
    const r = await benchOneBatch({
      model, addon: fakeAddon(), device: 'cpu', batchSize: 1, inputLen: 4, outputLen: 6, profile: 'both', outDir, runName: 'my run', profileDecodeSteps: 2,
    });
    expect(r.breakdown.decode).toEqual([
      { op: 'matmul', ms: 1.2, msPerStep: 0.6, share: 1.2 / 1.4, calls: 2 },
      { op: 'rmsnorm', ms: 0.2, msPerStep: 0.1, share: 0.2 / 1.4, calls: 1 },
    ]);
    expect(r.breakdown.prefill.map((o) => [o.op, o.share])).toEqual([['matmul', 0.75], ['attention', 0.25]]);
    expect(r.traceFiles).toEqual([path.join(outDir, 'my_run_bs1_in4_out6_decode.trace.json')]);
  });
});

describe('failing points', () => {
  it('records a point that does not fit and goes on', async () => {
    const seen: PointOutcome[] = [];
    const r = await sweep({
      model, addon: fakeAddon(), device: 'cpu', batchSizes: [1, 8, 2], inputLens: [16], outputLens: [4], kvPoolTokens: 64,
      onPoint: (p) => seen.push(p),
    });
    expect(r.points.map((p) => p.ok)).toEqual([true, false, true]);
    const f = r.points[1]!;
    expect(f.ok).toBe(false);
    if (!f.ok) {
      expect(f.error.code).toBe('ERR_DOES_NOT_FIT');
      expect(f.error.message).toContain('64 tokens available');
    }
    expect(seen).toHaveLength(3);
  });

  it('refuses a context beyond max_position_embeddings without running it', async () => {
    const addon = fakeAddon();
    const r = await sweep({ model, addon, device: 'cpu', batchSizes: [1], inputLens: [8, 9000], outputLens: [4] });
    expect(r.points.map((p) => p.ok)).toEqual([true, false]);
    const f = r.points[1]!;
    if (!f.ok) {
      expect(f.error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(f.error.message).toContain('max_position_embeddings (8192)');
    }
    // The engine was sized without the refused point.
    expect(addon.log.engines[0]!.opts.maxContext).toBe(12);
  });

  it('benchOneBatch rejects with the point error', async () => {
    await expect(
      benchOneBatch({ model, addon: fakeAddon(), device: 'cpu', batchSize: 8, inputLen: 16, outputLen: 4, kvPoolTokens: 32 }),
    ).rejects.toBeInstanceOf(DoesNotFitError);
  });

  it('a device the build does not have is an InvalidArgumentError naming what is allowed', async () => {
    const p = sweep({ model, addon: fakeAddon(), device: 'cuda', batchSizes: [1], inputLens: [4], outputLens: [2] });
    await expect(p).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(p).rejects.toThrow(/no CUDA backend \(allowed here: auto, cpu\)/);
  });
});

describe('devices', () => {
  it("'auto' picks cuda:0 when the build and the machine have it", async () => {
    const addon = fakeAddon({ cuda: true });
    const r = await sweep({ model, addon, batchSizes: [1], inputLens: [4], outputLens: [2] });
    expect(r.device).toBe('cuda:0');
    expect(r.dtype).toBe('bf16');
    expect(addon.log.engines[0]!.opts.device).toBe('cuda:0');
    await expect(sweep({ model, addon, device: 'cuda:1', batchSizes: [1], inputLens: [4], outputLens: [2] })).rejects.toThrow(/there is no cuda:1/);
  });

  it('a pool the addon capped to device memory fails only the point that does not fit', async () => {
    const addon = fakeAddon({ cuda: true, capKvTokens: 100_000 });
    const r = await sweep({ model: 'llama-3.1-8b', layers: 2, addon, device: 'cuda', batchSizes: [1, 2048], inputLens: [8192], outputLens: [1], mode: 'decode' });
    expect(r.plan.kvTokensNeeded).toBe(2048 * (8193 + 16));
    expect(r.engine.kvPoolTokens).toBe(100_000);
    expect(r.points.map((p) => p.ok)).toEqual([true, false]);
  });
});

describe('abort', () => {
  it('stops between steps, delivers the finished points and rejects with AbortError', async () => {
    const ac = new AbortController();
    const seen: PointOutcome[] = [];
    const addon = fakeAddon();
    const p = sweep({
      model, addon, device: 'cpu', batchSizes: [1, 2, 4], inputLens: [4], outputLens: [50], mode: 'decode', signal: ac.signal,
      onPoint: (o) => seen.push(o),
      onProgress: (e) => {
        if (e.pointIndex === 1 && e.phase === 'timed' && e.step === 10) ac.abort();
      },
    });
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).results).toEqual(seen);
    expect(seen).toHaveLength(1);
    expect(addon.log.events).toContain('cancel');
    expect(addon.log.engines[0]!.closed).toBe(true);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const addon = fakeAddon();
    await expect(sweep({ model, addon, device: 'cpu', batchSizes: [1], inputLens: [4], outputLens: [2], signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(addon.log.engines).toHaveLength(0);
  });

  it('a batch that does not fill times out (ERR_TIMEOUT) and the sweep goes on', async () => {
    const addon = fakeAddon();
    const orig = addon.Engine;
    // Drop every second submission, so batch 2 never fills.
    addon.Engine = class extends orig {
      private n = 0;
      override submit(r: { id: number; inputIds: Int32Array }) {
        if (this.n++ % 2 === 0) super.submit(r);
      }
    } as typeof orig;
    const r = await sweep({ model, addon, device: 'cpu', batchSizes: [2], inputLens: [4], outputLens: [2], batchTimeoutMs: 50 });
    const f = r.points[0]!;
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.error.code).toBe('ERR_TIMEOUT');
  });
});

describe('MTP sweeps', () => {
  it('size the engine for 1 + K tokens per request and step, pass the acceptance, and count the accepted tokens', async () => {
    const addon = fakeAddon();
    const r = await benchOneBatch({ model: 'tiny-deepseek-v3', addon, device: 'cpu', batchSize: 4, inputLen: 8, outputLen: 5, mode: 'decode', mtpDrafts: 2 });
    const e = addon.log.engines[0]!;
    // 5 steps of up to 3 tokens each after 8, and the drafts after the last one.
    expect(e.opts).toMatchObject({ maxDrafts: 2, maxBatch: 4, maxContext: 8 + 5 * 3 + 2, maxTokensPerStep: 12 });
    expect(r).toMatchObject({ mtpDrafts: 2, mtpAccept: 'all', acceptedPerStep: 3 });
    expect(r.decodeTokPerS).toBeCloseTo((4 * 3) / (r.decode!.median / 1000), 6);
    const spec = resolveModel('tiny-deepseek-v3');
    const ctx = r.decodeFloorContext!;
    expect(r.decodeFloorMs).toBeCloseTo(floorMs(decodeStepCost(spec, 4, ctx, 4, [], 2), r.peaks), 9);
  });

  it('refuses MTP on a model without MTP layers before opening an engine', async () => {
    const addon = fakeAddon();
    const err = await sweep({ model: 'tiny-deepseek-v2', addon, device: 'cpu', batchSizes: [1], inputLens: [8], outputLens: [2], mtpDrafts: 1 }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).message).toBe(
      'mtpDrafts: 1 is not allowed (allowed: 0: tiny-deepseek-v2 (deepseek_v2) has no MTP layers (num_nextn_predict_layers 0))',
    );
    expect(addon.log.engines).toHaveLength(0);
  });
});
