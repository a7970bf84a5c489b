import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeEngine, NativeProgress } from '../../lib/bridge/native.js';
import { ids, openEngine, point, runWithRequests } from './helpers.js';

describe('modes and the three passes', () => {
  let e: NativeEngine;
  beforeAll(async () => { e = await openEngine(); });
  afterAll(async () => { await e.close(); });

  it('both: one prefill, then output_len - 1 decode steps at growing context', async () => {
    const r = await runWithRequests(e, point({ mode: 'both', inputLen: 16, outputLen: 5 }));
    expect(r.prefillMs).toBeGreaterThan(0);
    expect(r.decodeStepMs).toHaveLength(4);
    expect(r.decodeContext).toEqual([17, 18, 19, 20]);
    expect(r.firstRequestTokens).toHaveLength(5);
  });

  it('prefill: one prefill forward and no decode step', async () => {
    const r = await runWithRequests(e, point({ mode: 'prefill', outputLen: 1 }));
    expect(r.prefillMs).toBeGreaterThan(0);
    expect(r.decodeStepMs).toEqual([]);
  });

  it('decode: no prefill; output_len steps over fake KV starting at context input_len + 1', async () => {
    const r = await runWithRequests(e, point({ mode: 'decode', inputLen: 40, outputLen: 3 }));
    expect(r.prefillMs).toBeNull();
    expect(r.decodeContext).toEqual([41, 42, 43]);
    for (const ms of r.decodeStepMs) expect(Number.isFinite(ms) && ms > 0).toBe(true);
    // Fake KV holds finite values: every greedy token is a real vocabulary id.
    for (const t of r.firstRequestTokens) expect(t >= 0 && t < 512).toBe(true);
  });

  it('runs warm-up, timed and profiled passes in order, reporting progress', async () => {
    const phases: NativeProgress[] = [];
    await runWithRequests(e, point({ profile: 'both', outputLen: 4 }), (p) => phases.push(p));
    const order = phases.map((p) => p.phase).filter((p, i, a) => a[i - 1] !== p);
    expect(order).toEqual(['waiting', 'admitted', 'warmup', 'timed', 'profiled', 'done']);
    const timed = phases.filter((p) => p.phase === 'timed');
    expect(timed.at(-1)).toMatchObject({ step: 4, totalSteps: 4 });
  });

  it('batched greedy tokens equal those of the request run alone (batching does not change the math)', async () => {
    const r = await runWithRequests(e, point({ batchSize: 4, inputLen: 16, outputLen: 6 }));
    const alone = await e.generate(ids(16, 0), 5);
    expect(r.firstRequestTokens).toEqual(alone.tokens);
  });

  it('the same seed gives the same tokens; another seed other tokens', async () => {
    const a = await e.generate(ids(16, 3), 4);
    const b = await e.generate(ids(16, 3), 4);
    expect(b.tokens).toEqual(a.tokens);
    const other = await openEngine({ seed: 8 });
    const c = await other.generate(ids(16, 3), 4);
    await other.close();
    expect(c.logits[0]).not.toEqual(a.logits[0]);
  });

  it('the profiled pass writes Chrome traces of the prefill and the first decode steps only', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-trace-'));
    const prefix = path.join(dir, 'run_bs2_in16_out8');
    const r = await runWithRequests(e, point({ profile: 'both', outputLen: 8, profileDecodeSteps: 2, tracePrefix: prefix }));
    expect(r.traceFiles).toEqual([`${prefix}_prefill.trace.json`, `${prefix}_decode.trace.json`]);
    const decode = JSON.parse(readFileSync(r.traceFiles[1], 'utf8'));
    const steps = decode.traceEvents.filter((ev: { cat?: string }) => ev.cat === 'step');
    expect(steps.map((s: { name: string }) => s.name)).toEqual(['decode step 0 ctx17', 'decode step 1 ctx18']);
    const ops = decode.traceEvents.filter((ev: { cat?: string }) => ev.cat === 'op');
    for (const ev of ops) {
      expect(ev.ph).toBe('X');
      expect(ev.dur).toBeGreaterThanOrEqual(0);
      expect(typeof ev.ts).toBe('number');
    }
    // Every layer's attention appears once per step, and ops sit inside their step.
    expect(ops.filter((o: { name: string }) => o.name === 'attention')).toHaveLength(2 * 2);
    for (const op of ops) {
      const s = steps.find((st: { ts: number; dur: number }) => op.ts >= st.ts && op.ts + op.dur <= st.ts + st.dur + 1e-3);
      expect(s).toBeDefined();
    }
    expect(decode.metadata).toMatchObject({ batch_size: '2', input_len: '16', device: 'cpu' });
    const prefill = JSON.parse(readFileSync(r.traceFiles[0], 'utf8'));
    expect(prefill.traceEvents.some((ev: { name: string }) => ev.name === 'matmul.lm_head')).toBe(true);
    expect(r.profiledDecode.length).toBe(ops.length);
  });

  it('measures the device peaks with its own ops', async () => {
    const p = await e.measurePeaks();
    expect(p.bytesPerS).toBeGreaterThan(1e8);
    expect(p.flopsPerS).toBeGreaterThan(1e8);
  });

  it('rejects a point larger than the engine was sized for', async () => {
    await expect(e.runPoint(point({ batchSize: 9 }), () => {})).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(e.runPoint(point({ inputLen: 250, outputLen: 10 }), () => {}))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/max context 256/) });
  });
});
