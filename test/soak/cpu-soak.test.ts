// Soak: a few hundred grid points on one CPU engine in one process, resident memory flat. The
// engine sizes its KV pool, activations and step buffers once, so after a warm-up nothing per
// point may stay behind.
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { openEngine, point, runFullPoint } from '../misuse/fixtures.js';

// Counts in docs/reliability.md: keep them in step.
const POINTS = 400;
const WARM_UP = 50;
// Measured (2-core CPU, under vitest): the settled RSS samples after warm-up moved by 0.13 MB at
// most. One leaked logits row or step buffer per point (>= 8 KB: 2048 fp32 logits) would add
// >= 2.8 MB over the 350 measured points; 2 MB sits between the two.
const BOUND_BYTES = 2 * 2 ** 20;

// Without a full collection V8 grows its heap lazily, and RSS with it; expose gc for this file.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function settledRss(): number {
  gc();
  gc();
  return process.memoryUsage().rss;
}

describe('CPU soak', () => {
  it(`${POINTS} points of varying shape on one engine keep RSS within ${BOUND_BYTES / 2 ** 20} MB after warm-up`, async () => {
    const engine = await openEngine();
    try {
      // Settled samples every 50 points: a collection between them keeps V8's lazy heap growth
      // and allocator slack out of the comparison.
      const samples: number[] = [];
      for (let i = 0; i < POINTS; i++) {
        const shape = point({ batchSize: 1 + (i % 2), inputLen: 4 + (i % 7) * 4, outputLen: 2 + (i % 3) });
        const r = await runFullPoint(engine, shape);
        expect(r.decodeStepMs.length).toBeGreaterThan(0);
        if ((i + 1) % 50 === 0 && i + 1 >= WARM_UP) samples.push(settledRss());
      }
      const [warm = 0] = samples;
      expect(samples).toHaveLength((POINTS - WARM_UP) / 50 + 1);
      expect(Math.max(...samples) - warm).toBeLessThan(BOUND_BYTES);
    } finally {
      await engine.close();
    }
  }, 60_000);
});
