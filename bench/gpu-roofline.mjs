// GPU roofline benchmark (issues 4 and 10): the device's peaks, then the Llama-3.1-8B shape with
// dummy weights — decode at batch 1..128 (context 1024), long-context decode, prefill, and prefill
// attention alone — each beside its floor (docs/design.md, the cost model) computed from peaks measured in
// the same process. A benchmark, not a test: it prints a table last and saves every result as JSON.
// With --repeat N it runs N processes one after another and prints each point's median over them
// and their spread (max / min - 1), and the peaks' spread.
// Run on the GPU machine: npm run compile && node bench/gpu-roofline.mjs [--repeat 3] [--model NAME]
//   [--out DIR] [--json FILE]; on the CPU (a scaled-down grid): --device cpu --model tiny-llama
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Engine, sweep } from '../dist/index.js';
import { summarizePeaks, summarizePoints } from './spread.mjs';
import { fixed, pct, si } from './format.mjs';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'out/bench' },
    model: { type: 'string', default: 'llama-3.1-8b' },
    device: { type: 'string', default: 'cuda' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'string' },
    // Internal: one process of a --repeat run, writing its results to --json and no tables.
    child: { type: 'boolean', default: false },
  },
});
const repeat = Number(args.repeat);
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error('--repeat must be a positive integer');
  process.exit(2);
}
const cpu = args.device === 'cpu';
const jsonFile = args.json ?? path.join(args.out, 'roofline.json');

// The grid: on a GPU the issue's points; on the CPU the same kinds of points, scaled down so that a
// test runs the whole script in seconds. Each group runs on one engine.
const grid = cpu
  ? {
      outputLen: 4,
      attentionTokens: 64,
      groups: [
        { mode: 'decode', batchSizes: [1, 4], inputLens: [64] },
        { mode: 'decode', batchSizes: [1], inputLens: [256] },
        { mode: 'prefill', batchSizes: [1], inputLens: [64, 128] },
        { mode: 'prefill', batchSizes: [2], inputLens: [64] },
      ],
    }
  : {
      outputLen: 32,
      attentionTokens: 4096,
      groups: [
        { mode: 'decode', batchSizes: [1, 8, 32, 64, 128], inputLens: [1024] },
        { mode: 'decode', batchSizes: [1], inputLens: [8192] },
        { mode: 'decode', batchSizes: [32], inputLens: [4096] },
        { mode: 'prefill', batchSizes: [1], inputLens: [1024, 4096] },
        { mode: 'prefill', batchSizes: [8], inputLens: [1024] },
      ],
    };

// One process's measurements: peaks, every point, prefill attention alone, the GEMM kernels.
async function measure() {
  mkdirSync(args.out, { recursive: true });
  const engine = await Engine.open({ model: args.model, layers: 1, device: args.device, maxBatch: 1, maxContext: 16 });
  const peaks = await engine.measurePeaks();
  // Causal prefill attention of one sequence, timed alone (its K and V are in the cache already).
  const attention = await engine.benchOp({
    op: 'attention_prefill', tokens: grid.attentionTokens, warmup: cpu ? 1 : 5, calls: cpu ? 3 : 20,
  });
  // Every distinct choice per shape, with the engines that made it: each sweep group tunes on an
  // engine of its own, so one shape may get different kernels in one run (a flip shows here).
  const gemmAlgos = new Map();
  const noteAlgo = (a, by) => {
    const id = `${a.m}x${a.n}x${a.k}x${a.batch} ${a.kernel} ${a.algoId} ${a.tile} ${a.stages} ${a.splitK}`;
    const seen = gemmAlgos.get(id) ?? { ...a, by: [] };
    if (!seen.by.includes(by)) seen.by.push(by);
    gemmAlgos.set(id, seen);
  };
  for (const a of await engine.gemmAlgos()) noteAlgo(a, 'peaks');
  await engine.close();

  const points = [
    {
      key: `attention prefill ${grid.attentionTokens}`,
      ok: true,
      ms: attention.medianMs,
      minMs: attention.minMs,
      floorMs: Math.max(attention.flops / peaks.flopsPerS, attention.bytes / peaks.bytesPerS) * 1e3,
      flops: attention.flops,
      bytes: attention.bytes,
    },
  ];
  const results = [];
  for (const g of grid.groups) {
    const r = await sweep({
      model: args.model, device: args.device, mode: g.mode, batchSizes: g.batchSizes, inputLens: g.inputLens,
      outputLens: [g.mode === 'decode' ? grid.outputLen : 1], peaks, profile: g.mode, profileDecodeSteps: 3,
      outDir: args.out, runName: 'roofline',
    });
    for (const p of r.points) {
      results.push(p);
      const decode = g.mode === 'decode';
      const key = `${g.mode} b${p.batchSize} in${p.inputLen}`;
      if (!p.ok) {
        points.push({ key, ok: false, error: p.error.message });
        continue;
      }
      for (const a of p.gemmAlgos) noteAlgo(a, `${g.mode} b${g.batchSizes.join('/')} in${g.inputLens.join('/')}`);
      const ms = decode ? p.decode.median : p.prefillMs;
      const floorMs = decode ? p.decodeFloorMs : p.prefillFloorMs;
      const mfu = decode ? p.decodeMfu : p.prefillMfu;
      const mbu = decode ? p.decodeMbu : p.prefillMbu;
      points.push({
        key, ok: true, ms, floorMs, ctx: decode ? p.decodeFloorContext : p.inputLen,
        // The work of the point, back from its MFU/MBU, so a summary over processes can redo them.
        flops: mfu * peaks.flopsPerS * (ms / 1e3), bytes: mbu * peaks.bytesPerS * (ms / 1e3),
        tokPerS: decode ? p.decodeTokPerS : p.prefillTokPerS, graphs: p.usedGraphs,
      });
    }
  }
  return { peaks, points, gemmAlgos: [...gemmAlgos.values()], results };
}


function printPeaks(peaks) {
  const calls = (c) => `${c.count} calls after ${c.warmup}, min ${c.minMs.toFixed(3)} / median ${c.medianMs.toFixed(3)} / max ${c.maxMs.toFixed(3)} ms`;
  console.log(`peaks: copy ${si(peaks.bytesPerS, 'B/s')} (${peaks.copyBytes / 2 ** 30} GiB; ${calls(peaks.copyCalls)}), ` +
    `GEMM ${si(peaks.flopsPerS, 'FLOP/s')} (${peaks.gemmM}x${peaks.gemmN}x${peaks.gemmK}; ${calls(peaks.gemmCalls)})`);
}

function printProcess(m) {
  printPeaks(m.peaks);
  // Where the time goes: per-op share of the profiled pass (eager, per-op events).
  const big = cpu ? [['decode', 1, 64], ['prefill', 1, 128]] : [['decode', 1, 1024], ['decode', 64, 1024], ['prefill', 1, 4096]];
  for (const [mode, b, l] of big) {
    const p = m.results.find((x) => x.ok && x.mode === mode && x.batchSize === b && x.inputLen === l);
    if (!p) continue;
    console.log(`\nper-op breakdown, ${mode} b${b} in${l} (profiled pass, eager):`);
    console.table(p.breakdown[mode].map((o) => ({ op: o.op, 'ms/step': +o.msPerStep.toFixed(4), share: pct(o.share), calls: o.calls })));
    const trace = p.traceFiles.find((f) => f.endsWith(`_${mode}.trace.json`));
    if (trace) printKernels(trace, mode === 'decode' ? 3 : 1);
  }
  if (m.gemmAlgos.length > 0) {
    console.log('\nGEMM kernels (each distinct choice per shape and the engines that kept it; candidate 0 is cuBLASLt\'s heuristic\'s first, gpubench_small_m the own decode kernel):');
    console.table(m.gemmAlgos.map((g) => ({
      shape: `${g.m}x${g.n}x${g.k}${g.batch > 1 ? ` x${g.batch}` : ''}`, kernel: g.kernel, algo: g.algoId, tile: g.tile, stages: g.stages,
      splitK: g.splitK, candidate: `${g.candidate}/${g.candidates}`, 'first us': fixed(g.firstUs, 1), 'chosen us': fixed(g.chosenUs, 1),
      'kept by': g.by.join(', '),
    })));
  }
  console.log(`\n${args.model}, dummy weights — measured vs floor (one process)`);
  console.table(m.points.map((r) => (r.ok
    ? { point: r.key, ms: fixed(r.ms), 'floor ms': fixed(r.floorMs), ratio: fixed(r.ms / r.floorMs),
        MFU: pct(r.flops / (r.ms / 1e3) / m.peaks.flopsPerS), MBU: pct(r.bytes / (r.ms / 1e3) / m.peaks.bytesPerS) }
    : { point: r.key, error: r.error })));
}

// The kernels behind those ops (CUPTI records in the trace), each kernel's device time.
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
  if (byName.size === 0) return;
  const top = [...byName].sort((a, b) => b[1].us - a[1].us).slice(0, 12);
  console.log(`kernels (CUPTI, top ${top.length} by device time):`);
  console.table(top.map(([name, k]) => ({ kernel: name, 'ms/step': +(k.us / 1000 / steps).toFixed(4), calls: k.calls, 'us/call': +(k.us / k.calls).toFixed(2) })));
}

function printSummary(processes) {
  const peaks = summarizePeaks(processes);
  console.log(`\npeaks over ${processes.length} processes: copy median ${si(peaks.bytesPerS.median, 'B/s')}, ` +
    `spread ${pct(peaks.bytesPerS.spread)}; GEMM median ${si(peaks.flopsPerS.median, 'FLOP/s')}, spread ${pct(peaks.flopsPerS.spread)} ` +
    `(widest in-process spread of the timed calls: copy ${pct(peaks.bytesPerS.callSpread)}, GEMM ${pct(peaks.flopsPerS.callSpread)})`);
  console.log(`${args.model}, dummy weights — median over ${processes.length} processes vs floor; spread = max / min - 1 of the processes' medians`);
  console.table(summarizePoints(processes).map((r) => (r.processes === 0
    ? { point: r.key, error: 'failed in every process' }
    : { point: r.key, 'median ms': fixed(r.ms), 'floor ms': fixed(r.floorMs), ratio: fixed(r.ratio), MFU: pct(r.mfu), MBU: pct(r.mbu), spread: pct(r.spread), processes: r.processes })));
}

if (args.child || repeat === 1) {
  const m = await measure();
  mkdirSync(path.dirname(path.resolve(jsonFile)), { recursive: true });
  if (args.child) {
    writeFileSync(jsonFile, JSON.stringify(m));
  } else {
    printProcess(m);
    writeFileSync(jsonFile, JSON.stringify({ model: args.model, device: args.device, processes: [m], summary: { peaks: summarizePeaks([m]), points: summarizePoints([m]) } }, null, 1));
    console.log(`(saved ${jsonFile})`);
  }
} else {
  // Each process starts cold (its own CUDA context, cuBLASLt plans, clocks' history): the spread
  // over them is what a reader of one run should expect.
  const scratch = mkdtempSync(path.join(tmpdir(), 'gpubench-roofline-'));
  const processes = [];
  try {
    for (let i = 0; i < repeat; i++) {
      const file = path.join(scratch, `process-${i}.json`);
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--json', file,
        '--model', args.model, '--device', args.device, '--out', path.join(args.out, `process-${i}`)], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`process ${i} exited with status ${r.status}`);
      const m = JSON.parse(readFileSync(file, 'utf8'));
      console.log(`process ${i + 1} of ${repeat}:`);
      printPeaks(m.peaks);
      processes.push(m);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  printSummary(processes);
  mkdirSync(path.dirname(path.resolve(jsonFile)), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify({ model: args.model, device: args.device, processes, summary: { peaks: summarizePeaks(processes), points: summarizePoints(processes) } }, null, 1));
  console.log(`(saved ${jsonFile})`);
}
