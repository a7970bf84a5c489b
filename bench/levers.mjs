// What a decode lever is worth, measured in one run: the same decode points with each of the
// backend's switches (read when the backend opens, so each variant runs in a process of its own),
// the variants interleaved over --rounds rounds so that a drift of the clocks touches them all
// alike. Per point it prints each variant's median over the rounds, its ratio to the floor and
// its change against the first variant (the defaults).
//   GPUBENCH_PDL=0           programmatic dependent launch off
//   GPUBENCH_GEMM=cublaslt   cuBLASLt for every GEMM (the own small-M kernel not weighed)
//   GPUBENCH_GEMM=small_m    the own small-M kernel wherever it fits (M <= 8), untimed
// Run on the GPU machine after the build: node bench/levers.mjs [--rounds 2] [--batch 1,8,64]
//   [--input-len 1024] [--output-len 32] [--json FILE]; on the CPU (the switches change nothing
//   there, the script runs): --device cpu --model tiny-llama.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './spread.mjs';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'llama-3.1-8b' },
    device: { type: 'string', default: 'cuda' },
    rounds: { type: 'string', default: '2' },
    batch: { type: 'string', default: '1,8,64' },
    'input-len': { type: 'string', default: '1024' },
    'output-len': { type: 'string', default: '32' },
    json: { type: 'string' },
  },
});
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error('--rounds must be a positive integer');
  process.exit(2);
}

const VARIANTS = [
  { name: 'defaults', env: {} },
  { name: 'no PDL', env: { GPUBENCH_PDL: '0' } },
  { name: 'cuBLASLt only', env: { GPUBENCH_GEMM: 'cublaslt' } },
  { name: 'own small-M GEMM', env: { GPUBENCH_GEMM: 'small_m' } },
];
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

/** One process: the decode points under `env`, as {batch: {ms, floorMs}}. */
function measure(env) {
  const r = spawnSync(process.execPath, [cli, 'run', '--model', args.model, '--device', args.device, '--mode', 'decode',
    '--batch', args.batch, '--input-len', args['input-len'], '--output-len', args['output-len'], '--json', '--quiet'], {
    env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`gpubench run (${JSON.stringify(env)}) exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  const points = {};
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('{'))) {
    const p = JSON.parse(line);
    if (p.ok) points[p.batch_size] = { ms: p.decode_median_ms, floorMs: p.decode_floor_ms };
  }
  return points;
}

const runs = VARIANTS.map(() => []);
for (let round = 0; round < rounds; round++) {
  VARIANTS.forEach((v, i) => runs[i].push(measure(v.env)));
}
const batches = Object.keys(runs[0][0]).map(Number).sort((a, b) => a - b);
const rows = batches.flatMap((batch) => {
  const base = median(runs[0].map((r) => r[batch].ms));
  return VARIANTS.map((v, i) => {
    const ms = median(runs[i].map((r) => r[batch].ms));
    const floorMs = median(runs[i].map((r) => r[batch].floorMs));
    return { batch, variant: v.name, ms, floorMs, ratio: ms / floorMs, change: ms / base - 1, rounds: runs[i].map((r) => r[batch].ms) };
  });
});

console.log(`${args.model} on ${args.device}, decode at input ${args['input-len']}: median over ${rounds} round(s) per variant`);
console.table(rows.map((r) => ({
  batch: r.batch, variant: r.variant, ms: +r.ms.toFixed(3), ratio: +r.ratio.toFixed(3),
  'vs defaults': `${r.change >= 0 ? '+' : ''}${(100 * r.change).toFixed(1)}%`,
})));
if (args.json) {
  writeFileSync(args.json, JSON.stringify({ model: args.model, device: args.device, rounds, variants: VARIANTS, rows }, null, 2));
  console.log(`(saved ${args.json})`);
}
