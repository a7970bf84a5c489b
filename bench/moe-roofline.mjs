// Mixture-of-experts and MLA models against their floors, in one run: every row of the MoE/MLA
// targets (qwen3-30b-a3b, mixtral-8x7b on 16 layers, deepseek-v2-lite, deepseek-v3 on 4 layers
// with one MTP draft accepted every step), routing pinned `balanced`, plus a zipf:1.2 row that
// shows what skewed routing costs. Each point's median, floor, ratio and target, then the per-op
// breakdown of each model's decode at batch 1 and of its first prefill point (profiled pass).
// Run on the GPU machine after the build: node bench/moe-roofline.mjs [--out DIR] [--json FILE];
// on the CPU (tiny models, a scaled-down grid, for the test): --device cpu.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, sweep } from '../dist/index.js';
import { fixed, pct, si } from './format.mjs';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'out/bench-moe' },
    device: { type: 'string', default: 'cuda' },
    json: { type: 'string' },
  },
});
const cpu = args.device === 'cpu';
const jsonFile = args.json ?? path.join(args.out, 'moe-roofline.json');

const mtp = { mtpDrafts: 1, mtpAccept: 'all' };
// Each row: a model (and its options), one mode, the grid, and the target ratio it is held to.
const rows = cpu
  ? [
      { model: 'tiny-qwen3-moe', mode: 'decode', batchSizes: [1, 4], inputLens: [32], target: null },
      { model: 'tiny-qwen3-moe', mode: 'decode', batchSizes: [4], inputLens: [32], moeRouting: 'zipf:1.2', target: null },
      { model: 'tiny-qwen3-moe', mode: 'prefill', batchSizes: [2], inputLens: [32], target: null },
      { model: 'tiny-mixtral', layers: 2, mode: 'decode', batchSizes: [1], inputLens: [32], target: null },
      { model: 'tiny-deepseek-v2', mode: 'decode', batchSizes: [1], inputLens: [32], target: null },
      { model: 'tiny-deepseek-v2', mode: 'prefill', batchSizes: [1], inputLens: [64], target: null },
      { model: 'tiny-deepseek-v3', layers: 2, ...mtp, mode: 'decode', batchSizes: [1], inputLens: [32], target: null },
    ]
  : [
      { model: 'qwen3-30b-a3b', mode: 'decode', batchSizes: [1, 8, 32], inputLens: [1024], target: 1.3 },
      { model: 'qwen3-30b-a3b', mode: 'decode', batchSizes: [32], inputLens: [1024], moeRouting: 'zipf:1.2', target: null },
      { model: 'qwen3-30b-a3b', mode: 'prefill', batchSizes: [1, 8, 32], inputLens: [1024], target: 1.3 },
      { model: 'mixtral-8x7b', layers: 16, mode: 'decode', batchSizes: [1, 8, 32], inputLens: [1024], target: 1.3 },
      { model: 'mixtral-8x7b', layers: 16, mode: 'prefill', batchSizes: [8], inputLens: [1024], target: 1.3 },
      { model: 'deepseek-v2-lite', mode: 'decode', batchSizes: [1, 8, 32], inputLens: [1024], target: 1.4 },
      { model: 'deepseek-v2-lite', mode: 'decode', batchSizes: [32], inputLens: [4096], target: 1.4 },
      { model: 'deepseek-v2-lite', mode: 'prefill', batchSizes: [1, 8], inputLens: [1024], target: 1.4 },
      { model: 'deepseek-v2-lite', mode: 'prefill', batchSizes: [1], inputLens: [4096], target: 1.4 },
      { model: 'deepseek-v3', layers: 4, ...mtp, mode: 'decode', batchSizes: [1, 32], inputLens: [1024], target: 1.5 },
      { model: 'deepseek-v3', layers: 4, ...mtp, mode: 'prefill', batchSizes: [1], inputLens: [4096], target: 1.5 },
    ];

mkdirSync(args.out, { recursive: true });
const probe = await Engine.open({ model: cpu ? 'tiny-qwen3-moe' : 'qwen3-30b-a3b', layers: 1, device: args.device, maxBatch: 1, maxContext: 16 });
const peaks = await probe.measurePeaks();
await probe.close();

const points = [];
const breakdowns = [];
for (const row of rows) {
  const { target, mode, ...opts } = row;
  const routing = row.moeRouting ?? 'balanced';
  const name = `${row.model}${row.layers ? ` (${row.layers} layers)` : ''}${row.mtpDrafts ? ' MTP 1' : ''}${routing === 'balanced' ? '' : ` ${routing}`}`;
  const r = await sweep({
    ...opts, moeRouting: routing, device: args.device, mode, outputLens: [mode === 'decode' ? (cpu ? 4 : 32) : 1],
    peaks, profile: mode, profileDecodeSteps: 3, outDir: args.out, runName: 'moe-roofline',
  });
  for (const p of r.points) {
    const key = `${mode} b${p.batchSize} in${p.inputLen}`;
    if (!p.ok) {
      points.push({ model: name, key, ok: false, error: p.error.message });
      continue;
    }
    const decode = mode === 'decode';
    const ms = decode ? p.decode.median : p.prefillMs;
    const floorMs = decode ? p.decodeFloorMs : p.prefillFloorMs;
    points.push({ model: name, key, ok: true, ms, floorMs, ratio: ms / floorMs, target, graphs: p.usedGraphs, kernelPaths: p.kernelPaths });
    // The first point of each model and mode: where its time goes.
    if (routing === 'balanced' && !breakdowns.some((b) => b.model === name && b.mode === mode)) {
      breakdowns.push({ model: name, mode, key, ops: p.breakdown[mode] });
    }
  }
}

console.log(`peaks: copy ${si(peaks.bytesPerS, 'B/s')}, GEMM ${si(peaks.flopsPerS, 'FLOP/s')}`);
console.log('MoE and MLA models, dummy weights — measured vs floor (one process)');
console.table(points.map((p) => (p.ok
  ? { model: p.model, point: p.key, ms: fixed(p.ms), 'floor ms': fixed(p.floorMs), ratio: fixed(p.ratio), target: p.target ?? 'reported' }
  : { model: p.model, point: p.key, error: p.error })));
for (const b of breakdowns) {
  console.log(`\nper-op breakdown, ${b.model} ${b.key} (profiled pass, eager):`);
  console.table(b.ops.slice(0, 10).map((o) => ({ op: o.op, 'ms/step': +o.msPerStep.toFixed(4), share: pct(o.share), calls: o.calls })));
}
mkdirSync(path.dirname(path.resolve(jsonFile)), { recursive: true });
writeFileSync(jsonFile, JSON.stringify({ device: args.device, peaks, points, breakdowns }, null, 1));
console.log(`(saved ${jsonFile})`);
