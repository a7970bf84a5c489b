// Host-side overhead on the CPU backend (tinybench): what gpubench itself costs around the model.
//  - point: a whole grid point of a 1-layer tiny model with 1-token prompts (scheduler admission,
//    KV allocation, three passes, result conversion) — the floor under every measured point;
//  - forward: one 1-token forward of tiny-llama (the work of one decode step at batch 1).
// Run: npm run compile && node bench/host-overhead.mjs
import { Bench } from 'tinybench';
import { Engine } from '../dist/index.js';

const small = await Engine.open({ model: 'tiny-llama', layers: 1, device: 'cpu', seed: 1, maxBatch: 8, maxContext: 64, maxTokensPerStep: 64 });
const full = await Engine.open({ model: 'tiny-llama', device: 'cpu', seed: 1, maxBatch: 1, maxContext: 64, maxTokensPerStep: 64 });
const prompt = Int32Array.from([1]);

const bench = new Bench({ time: 2000, warmupTime: 300 });
bench
  .add('point: batch 8, 1-token prompts, 1 output, 1-layer tiny-llama', async () => {
    const done = small.runPoint({
      batchSize: 8, inputLen: 1, outputLen: 1, mode: 'prefill', batchTimeoutMs: 1000, useGraphs: false,
      profile: 'none', profileDecodeSteps: 0, runName: 'bench',
    }, () => {});
    for (let i = 0; i < 8; i++) small.submit(prompt);
    await done;
  })
  .add('forward: one token through tiny-llama (a batch-1 decode step)', async () => {
    await full.generate(prompt, 0);
  });
await bench.run();
console.table(bench.table());
await small.close();
await full.close();
