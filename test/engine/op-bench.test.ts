// benchOp (one op timed alone, bench/ops.mjs), the peaks' timed-call spread and gemmAlgos, on the
// CPU backend with the tiny spec (hidden 64, 4 query heads and 2 KV heads of 16, intermediate 160).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeEngine, NativeOpTiming } from '../../lib/bridge/native.js';
import { openEngine } from './helpers.js';

const F32 = 4;

function expectTimed(t: NativeOpTiming, calls: number) {
  expect(t.calls).toBe(calls);
  expect(t.minMs).toBeGreaterThan(0);
  expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
  expect(t.medianMs).toBeLessThanOrEqual(t.maxMs);
  expect(t.l2Flushed).toBe(false); // the CPU has no cache flush
}

describe('benchOp', () => {
  let e: NativeEngine;
  beforeAll(async () => { e = await openEngine(); });
  afterAll(async () => { await e.close(); });

  it('matmul: reads x and w, writes out, 2·M·N·K flops', async () => {
    const t = await e.benchOp({ op: 'matmul', m: 3, n: 40, k: 24, warmup: 1, calls: 4 });
    expectTimed(t, 4);
    expect(t.bytes).toBe(F32 * (3 * 24 + 40 * 24 + 3 * 40));
    expect(t.flops).toBe(2 * 3 * 40 * 24);
  });

  it('attention_decode: every cached K and V row of every sequence, 4·head_dim flops per head and key', async () => {
    const t = await e.benchOp({ op: 'attention_decode', batch: 3, ctx: 37, warmup: 0, calls: 2 });
    expectTimed(t, 2);
    const kvDim = 2 * 16, qDim = 4 * 16;
    expect(t.bytes).toBe(F32 * (2 * 3 * 37 * kvDim + 2 * 3 * qDim));
    expect(t.flops).toBe(4 * 3 * 4 * 16 * 37);
  });

  it('attention_prefill: causal, (tokens + 1) / 2 keys per query on average', async () => {
    const t = await e.benchOp({ op: 'attention_prefill', tokens: 20, warmup: 0, calls: 1 });
    expectTimed(t, 1);
    expect(t.flops).toBe(4 * 20 * 4 * 16 * (21 / 2));
  });

  it('rmsnorm, swiglu and rope_kv_write (decode and prefill): memory traffic only', async () => {
    const norm = await e.benchOp({ op: 'rmsnorm', tokens: 5, warmup: 0, calls: 1 });
    expect(norm.bytes).toBe(F32 * (2 * 5 * 64 + 64));
    const swiglu = await e.benchOp({ op: 'swiglu', tokens: 5, warmup: 0, calls: 1 });
    expect(swiglu.bytes).toBe(F32 * 3 * 5 * 160);
    // reads q, k, v; writes q and k back and k, v into the cache
    const decode = await e.benchOp({ op: 'rope_kv_write', tokens: 4, ctx: 50, warmup: 0, calls: 1 });
    expect(decode.bytes).toBe(F32 * 4 * (2 * 64 + 5 * 32));
    const prefill = await e.benchOp({ op: 'rope_kv_write', tokens: 33, warmup: 0, calls: 1 });
    expect(prefill.bytes).toBe(F32 * 33 * (2 * 64 + 5 * 32));
    for (const t of [norm, swiglu, decode, prefill]) {
      expectTimed(t, 1);
      expect(t.flops).toBe(0);
    }
  });

  it('rejects an unknown op, a missing shape and zero calls', async () => {
    await expect(e.benchOp({ op: 'conv' as 'matmul', warmup: 0, calls: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /unknown op 'conv'/ });
    await expect(e.benchOp({ op: 'matmul', m: 2, warmup: 0, calls: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /m, n, k/ });
    await expect(e.benchOp({ op: 'swiglu', tokens: 2, warmup: 0, calls: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /calls/ });
  });

  it('gemmAlgos is empty on the CPU (no kernel choice to record)', async () => {
    await e.benchOp({ op: 'matmul', m: 1, n: 8, k: 8, warmup: 0, calls: 1 });
    expect(await e.gemmAlgos()).toEqual([]);
  });

  it('peaks carry their timed calls, and each peak is the fastest of them', async () => {
    const p = await e.measurePeaks();
    for (const c of [p.copyCalls, p.gemmCalls]) {
      expect(c.warmup).toBeGreaterThanOrEqual(1);
      expect(c.count).toBeGreaterThanOrEqual(3);
      expect(c.minMs).toBeLessThanOrEqual(c.medianMs);
      expect(c.medianMs).toBeLessThanOrEqual(c.maxMs);
    }
    expect(p.bytesPerS).toBeCloseTo((2 * p.copyBytes) / (p.copyCalls.minMs / 1e3), -3);
    expect(p.flopsPerS).toBeCloseTo((2 * p.gemmM * p.gemmN * p.gemmK) / (p.gemmCalls.minMs / 1e3), -3);
  });
});
