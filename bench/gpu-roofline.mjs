// GPU roofline benchmark (issue 4): the device's peaks, then the Llama-3.1-8B shape with dummy
// weights — decode at batch 1..128 (context 1024), long-context decode, prefill — each beside its
// floor (docs/design.md, the cost model) computed from peaks measured in this same run. A benchmark, not a
// test: it prints a table last and saves every result as JSON.
// Run on the GPU machine: npm run build && node bench/gpu-roofline.mjs [--out DIR] [--model NAME]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, sweep } from '../dist/index.js';

const { values: args } = parseArgs({
  options: { out: { type: 'string', default: 'out/bench' }, model: { type: 'string', default: 'llama-3.1-8b' } },
});
mkdirSync(args.out, { recursive: true });

const peakEngine = await Engine.open({ model: args.model, layers: 1, device: 'cuda', maxBatch: 1, maxContext: 16 });
const peaks = await peakEngine.measurePeaks();
await peakEngine.close();
console.log(`peaks: copy ${(peaks.bytesPerS / 1e12).toFixed(3)} TB/s (${peaks.copyBytes / 2 ** 30} GiB), ` +
  `GEMM ${(peaks.flopsPerS / 1e12).toFixed(1)} TFLOP/s (${peaks.gemmM}x${peaks.gemmN}x${peaks.gemmK} bf16)`);

// Each group runs on one engine; profile 'both' keeps the per-op breakdown of every point.
const groups = [
  { name: 'decode ctx 1024', mode: 'decode', batchSizes: [1, 8, 32, 64, 128], inputLens: [1024], outputLens: [32] },
  { name: 'decode b1 ctx 8192', mode: 'decode', batchSizes: [1], inputLens: [8192], outputLens: [32] },
  { name: 'decode b32 ctx 4096', mode: 'decode', batchSizes: [32], inputLens: [4096], outputLens: [32] },
  { name: 'prefill', mode: 'prefill', batchSizes: [1], inputLens: [1024, 4096], outputLens: [1] },
  { name: 'prefill 8x1024', mode: 'prefill', batchSizes: [8], inputLens: [1024], outputLens: [1] },
];

const rows = [];
const results = [];
for (const g of groups) {
  const r = await sweep({
    model: args.model, device: 'cuda', mode: g.mode, batchSizes: g.batchSizes, inputLens: g.inputLens,
    outputLens: g.outputLens, peaks, profile: g.mode === 'decode' ? 'decode' : 'prefill', profileDecodeSteps: 3,
    outDir: args.out, runName: 'roofline',
  });
  for (const p of r.points) {
    results.push(p);
    if (!p.ok) {
      rows.push({ point: `${g.mode} b${p.batchSize} in${p.inputLen}`, error: p.error.message });
      continue;
    }
    const decode = g.mode === 'decode';
    const ms = decode ? p.decode.median : p.prefillMs;
    rows.push({
      point: `${g.mode} b${p.batchSize} ${decode ? `ctx${p.decodeFloorContext}` : `in${p.inputLen}`}`,
      'ms': +ms.toFixed(3),
      'floor ms': +(decode ? p.decodeFloorMs : p.prefillFloorMs).toFixed(3),
      ratio: +(decode ? p.decodeRatio : p.prefillRatio).toFixed(3),
      MFU: `${((decode ? p.decodeMfu : p.prefillMfu) * 100).toFixed(1)}%`,
      MBU: `${((decode ? p.decodeMbu : p.prefillMbu) * 100).toFixed(1)}%`,
      'tok/s': Math.round(decode ? p.decodeTokPerS : p.prefillTokPerS),
      graphs: p.usedGraphs,
    });
  }
}

// Where the time goes: per-op share of the profiled pass (eager, per-op events).
for (const [mode, b, l] of [['decode', 1, 1024], ['decode', 64, 1024], ['prefill', 1, 4096]]) {
  const p = results.find((x) => x.ok && x.mode === mode && x.batchSize === b && x.inputLen === l);
  if (!p) continue;
  console.log(`\nper-op breakdown, ${mode} b${b} in${l} (profiled pass, eager):`);
  console.table(p.breakdown[mode].map((o) => ({ op: o.op, 'ms/step': +o.msPerStep.toFixed(4), share: `${(o.share * 100).toFixed(1)}%`, calls: o.calls })));
  const trace = p.traceFiles.find((f) => f.endsWith(`_${mode}.trace.json`));
  if (trace) printKernels(trace, mode === 'decode' ? 3 : 1);
}

// The kernels behind those ops (CUPTI records in the trace): which GEMM kernels cuBLASLt or the
// GEMV candidate ran, and each kernel's device time.
function printKernels(file, steps) {
  const byName = new Map();
  for (const e of JSON.parse(readFileSync(file, 'utf8')).traceEvents) {
    if (e.cat !== 'kernel') continue;
    const name = e.name.length > 70 ? `${e.name.slice(0, 67)}...` : e.name;
    const k = byName.get(name) ?? { us: 0, calls: 0 };
    k.us += e.dur;
    k.calls += 1;
    byName.set(name, k);
  }
  const top = [...byName].sort((a, b) => b[1].us - a[1].us).slice(0, 12);
  console.log(`kernels (CUPTI, top ${top.length} by device time):`);
  console.table(top.map(([name, k]) => ({ kernel: name, 'ms/step': +(k.us / 1000 / steps).toFixed(4), calls: k.calls, 'us/call': +(k.us / k.calls).toFixed(2) })));
}

writeFileSync(path.join(args.out, 'roofline.json'), JSON.stringify({ peaks, results }, null, 1));
console.log(`\n${args.model}, dummy weights, bf16 — measured vs floor (saved ${path.join(args.out, 'roofline.json')})`);
console.table(rows);
