// GPU soak (issue: long runs stay flat), on the GPU machine after the CUDA build:
//   node scripts/gpu-soak.mjs [--cycles 100] [--points 200] [--json out.json]
// 1. `cycles` engine open/close cycles of a 2-layer llama-3.1-8b on cuda:0, each running one small
//    point; 2. one sweep of `points` grid points on one engine. Device memory is read from
//    nvidia-smi (the GPU's memory.used, this process the only user) after every cycle and every
//    point. Flat means: after the first 10% (allocator and context warm-up), the readings move by
//    at most BOUND_MIB. Exits 1 when either part is not flat or a point failed.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Engine, sweep } from '../dist/index.js';

const { values: args } = parseArgs({
  options: { cycles: { type: 'string', default: '100' }, points: { type: 'string', default: '200' }, json: { type: 'string' } },
});
const CYCLES = Number(args.cycles);
const POINTS = Number(args.points);
// One leaked KV pool or activation set of this model is hundreds of MiB; one leaked graph or
// cuBLASLt workspace is tens. 16 MiB is above nvidia-smi's granularity (1 MiB) and allocator noise.
const BOUND_MIB = 16;
const model = 'llama-3.1-8b';
const layers = 2;

function usedMiB() {
  const out = execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-i', '0']);
  return Number(String(out).trim());
}

function flatness(readings) {
  const settled = readings.slice(Math.max(1, Math.floor(readings.length / 10)));
  const min = Math.min(...settled), max = Math.max(...settled);
  return { first: readings[0], settledMin: min, settledMax: max, drift: max - min, flat: max - min <= BOUND_MIB };
}

const cycleMiB = [];
const idleBefore = usedMiB();
const t0 = Date.now();
for (let i = 0; i < CYCLES; i++) {
  const engine = await Engine.open({ model, layers, device: 'cuda:0', maxBatch: 4, maxContext: 256 });
  await engine.close();
  cycleMiB.push(usedMiB());
}
const cycles = { count: CYCLES, seconds: (Date.now() - t0) / 1000, idleBefore, ...flatness(cycleMiB) };
console.log(`open/close: ${CYCLES} cycles in ${cycles.seconds.toFixed(1)} s; memory.used before ${idleBefore} MiB, ` +
  `after cycle 1 ${cycles.first} MiB, settled ${cycles.settledMin}-${cycles.settledMax} MiB (drift ${cycles.drift} MiB): ${cycles.flat ? 'flat' : 'NOT FLAT'}`);

// A grid of POINTS points: batch 1..10 x input 16..(16*n) x output 4/8, varied shapes so every
// graph size and KV layout is exercised.
const batchSizes = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
const outputLens = [4, 8];
const inputCount = Math.ceil(POINTS / (batchSizes.length * outputLens.length));
const inputLens = Array.from({ length: inputCount }, (_, i) => 16 + 24 * i);
const pointMiB = [];
let failed = 0;
const t1 = Date.now();
const r = await sweep({
  model, layers, device: 'cuda:0', batchSizes, inputLens, outputLens, mode: 'both',
  onPoint: (p) => { if (!p.ok) failed++; pointMiB.push(usedMiB()); },
});
const sweepStats = { count: r.points.length, failed, seconds: (Date.now() - t1) / 1000, ...flatness(pointMiB) };
console.log(`sweep: ${r.points.length} points (${failed} failed) in ${sweepStats.seconds.toFixed(1)} s; memory.used after point 1 ` +
  `${sweepStats.first} MiB, settled ${sweepStats.settledMin}-${sweepStats.settledMax} MiB (drift ${sweepStats.drift} MiB): ${sweepStats.flat ? 'flat' : 'NOT FLAT'}`);

if (args.json) writeFileSync(args.json, JSON.stringify({ boundMiB: BOUND_MIB, cycles, cycleMiB, sweep: sweepStats, pointMiB }, null, 1));
process.exitCode = cycles.flat && sweepStats.flat && failed === 0 && r.points.length >= POINTS ? 0 : 1;
