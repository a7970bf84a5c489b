// The measuring instruments on CUDA: benchOp runs every op (L2 flushed for matmul and decode
// attention), the GEMM kernel choice follows its rule and is recorded per shape, and the peaks
// carry their timed calls.
import { describe, expect, it } from 'vitest';
import { hasGpu, open } from './helpers.js';

const BF16 = 2;

describe.skipIf(!hasGpu)('measuring instruments on CUDA', () => {
  it('benchOp: every op runs; matmul and decode attention with the L2 flushed', async () => {
    const e = await open('tiny-llama', 'cuda:0');
    const cases = [
      { op: 'matmul', m: 8, n: 512, k: 256 },
      { op: 'attention_decode', batch: 4, ctx: 300 },
      { op: 'attention_prefill', tokens: 256 },
      { op: 'rmsnorm', tokens: 8 },
      { op: 'rope_kv_write', tokens: 8, ctx: 100 },
      { op: 'rope_kv_write', tokens: 64 },
      { op: 'swiglu', tokens: 8 },
    ] as const;
    for (const c of cases) {
      const t = await e.benchOp({ ...c, warmup: 2, calls: 5 });
      expect(t.calls, c.op).toBe(5);
      expect(t.minMs, c.op).toBeGreaterThan(0);
      expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
      expect(t.l2Flushed, c.op).toBe(c.op === 'matmul' || c.op === 'attention_decode');
    }
    const mm = await e.benchOp({ op: 'matmul', m: 8, n: 512, k: 256, warmup: 0, calls: 1 });
    expect(mm.bytes).toBe(BF16 * (8 * 256 + 512 * 256 + 8 * 512));
    await e.close();
  });

  it("GEMM kernels: one per shape run, the heuristic's first unless another is >= 3% faster", async () => {
    const e = await open('tiny-llama', 'cuda:0');
    for (const m of [1, 64]) await e.benchOp({ op: 'matmul', m, n: 2048, k: 1024, warmup: 1, calls: 1 });
    const algos = await e.gemmAlgos();
    for (const m of [1, 64]) {
      const g = algos.find((a) => a.m === m && a.n === 2048 && a.k === 1024);
      expect(g, `M=${m}`).toBeDefined();
      expect(g!.candidates).toBeGreaterThanOrEqual(1);
      expect(g!.candidate).toBeLessThan(g!.candidates);
      if (g!.candidate !== 0) expect(g!.chosenUs).toBeLessThanOrEqual(0.97 * g!.firstUs + 1e-6);
    }
    await e.close();
  });

  it('peaks: each the fastest of at least 30 timed calls after a warm-up', async () => {
    const e = await open('tiny-llama', 'cuda:0');
    const p = await e.measurePeaks();
    for (const c of [p.copyCalls, p.gemmCalls]) {
      expect(c.warmup).toBe(5);
      expect(c.count).toBeGreaterThanOrEqual(30);
      expect(c.minMs).toBeLessThanOrEqual(c.medianMs);
    }
    expect(p.flopsPerS).toBeCloseTo((2 * p.gemmM * p.gemmN * p.gemmK) / (p.gemmCalls.minMs / 1e3), -6);
    await e.close();
  });
});
