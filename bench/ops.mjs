// Per-kernel benchmark in the style of llm.c's dev/cuda: each op of a model timed alone on the
// engine's backend (benchOp: warm-up calls, then timed calls, the L2 flushed before each where the
// op's inputs come from memory in a forward pass), beside its own floor: max(bytes / measured copy
// bandwidth, flops / measured GEMM rate), with the peaks measured in the same process. A change
// to one kernel is measured here without a whole forward.
// Run on the GPU machine: npm run compile && npm run bench:ops -- [--model NAME] [--op matmul,attention_decode]
//   [--calls N] [--json FILE]; on the CPU (small shapes): --device cpu --model tiny-llama
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, resolveModel } from '../dist/index.js';

const OPS = ['matmul', 'attention_decode', 'attention_prefill', 'rmsnorm', 'rope_kv_write', 'swiglu'];
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'llama-3.1-8b' },
    device: { type: 'string', default: 'cuda' },
    op: { type: 'string', default: OPS.join(',') },
    calls: { type: 'string' },
    json: { type: 'string' },
  },
});
const cpu = args.device === 'cpu';
const ops = args.op.split(',');
for (const op of ops) {
  if (!OPS.includes(op)) {
    console.error(`--op: '${op}' is not one of ${OPS.join(', ')}`);
    process.exit(2);
  }
}
const calls = args.calls === undefined ? (cpu ? 3 : 50) : Number(args.calls);
const warmup = cpu ? 1 : 5;

// The shapes of the model's dense layer: decode batches and prefill token counts of the roofline
// benchmark (bench/gpu-roofline.mjs), scaled down on the CPU.
const s = resolveModel(args.model);
const decodeM = cpu ? [1, 8] : [1, 8, 32, 64, 128];
const prefillM = cpu ? [64] : [1024, 4096, 8192];
const weights = [
  ['qkv', (s.numHeads + 2 * s.numKvHeads) * s.headDim, s.hiddenSize],
  ['o_proj', s.hiddenSize, s.numHeads * s.headDim],
  ['gate_up', 2 * s.intermediateSize, s.hiddenSize],
  ['down', s.hiddenSize, s.intermediateSize],
  ['lm_head', s.vocabSize, s.hiddenSize],
];
const cases = {
  matmul: [...decodeM, ...prefillM].flatMap((m) => weights
    .filter(([name]) => name !== 'lm_head' || decodeM.includes(m))
    .map(([name, n, k]) => ({ label: `${name} M=${m} N=${n} K=${k}`, op: 'matmul', m, n, k }))),
  attention_decode: (cpu ? [[1, 64], [4, 64], [1, 256]] : [[1, 1024], [8, 1024], [32, 1024], [64, 1024], [128, 1024], [1, 8192], [32, 4096]])
    .map(([batch, ctx]) => ({ label: `batch ${batch} ctx ${ctx}`, op: 'attention_decode', batch, ctx })),
  attention_prefill: (cpu ? [64] : [1024, 4096])
    .map((tokens) => ({ label: `${tokens} tokens, head_dim ${s.headDim}`, op: 'attention_prefill', tokens })),
  rmsnorm: [...decodeM, ...prefillM].map((tokens) => ({ label: `${tokens} x ${s.hiddenSize}`, op: 'rmsnorm', tokens })),
  rope_kv_write: [
    ...decodeM.map((tokens) => ({ label: `decode ${tokens} at ctx ${cpu ? 64 : 1024}`, op: 'rope_kv_write', tokens, ctx: cpu ? 64 : 1024 })),
    ...prefillM.map((tokens) => ({ label: `prefill ${tokens}`, op: 'rope_kv_write', tokens })),
  ],
  swiglu: [...decodeM, ...prefillM].map((tokens) => ({ label: `${tokens} x ${s.intermediateSize}`, op: 'swiglu', tokens })),
};

const engine = await Engine.open({ model: args.model, layers: 1, device: args.device, maxBatch: 1, maxContext: 16 });
const rows = [];
let peaks;
try {
  peaks = await engine.measurePeaks();
  console.log(`${args.model} on ${args.device}: peaks copy ${(peaks.bytesPerS / 1e9).toFixed(1)} GB/s, GEMM ${(peaks.flopsPerS / 1e9).toFixed(1)} GFLOP/s`);
  for (const op of ops) {
    for (const { label, ...c } of cases[op]) {
      const t = await engine.benchOp({ ...c, warmup, calls });
      const floorMs = Math.max(t.bytes / peaks.bytesPerS, t.flops / peaks.flopsPerS) * 1e3;
      rows.push({ op, shape: label, ...t, floorMs, ratio: t.medianMs / floorMs });
    }
  }
} finally {
  await engine.close();
}

// Achieved rate at the median: GFLOP/s where the floor is the GEMM rate, else GB/s. Where the L2
// is not flushed an op may read its inputs from cache, and beat its floor (ratio < 1).
const rate = (r) => (r.flops / peaks.flopsPerS > r.bytes / peaks.bytesPerS
  ? `${(r.flops / (r.medianMs / 1e3) / 1e9).toFixed(1)} GFLOP/s`
  : `${(r.bytes / (r.medianMs / 1e3) / 1e9).toFixed(1)} GB/s`);
console.table(rows.map((r) => ({
  op: r.op, shape: r.shape, 'median us': +(r.medianMs * 1e3).toFixed(2), 'min us': +(r.minMs * 1e3).toFixed(2),
  'floor us': +(r.floorMs * 1e3).toFixed(2), ratio: +r.ratio.toFixed(3), achieved: rate(r), 'L2 flushed': r.l2Flushed,
})));
if (args.json) {
  mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
  writeFileSync(args.json, JSON.stringify({ model: args.model, device: args.device, peaks, calls, warmup, ops: rows }, null, 1));
  console.log(`(saved ${args.json})`);
}
