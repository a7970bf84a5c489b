// Serving metrics in vLLM's vocabulary, derived from a sweep's forward passes: TTFT is the prefill of
// the whole batch at that input length, TPOT the mean decode step per emitted token, ITL the decode
// step times (mean, median, p90), E2E latency TTFT + (output_len − 1) × TPOT. And the Pareto frontier
// of tokens/s per GPU against tokens/s per user, drawn per input/output length as TensorRT-LLM's
// disaggregated DeepSeek-R1 recipe does. No server runs: no arrivals, queueing or mixed batches.
import Table from 'cli-table3';
import { COMPACT, fmtMs, fmtRate } from '../report/table.js';
import type { RunPoint } from './read-jsonl.js';

export const DERIVED_NOTE =
  'Derived from forward passes (one batch at a time, prefill and decode steps timed in isolation), ' +
  'not from a server under load: no request arrivals, queueing or mixed prefill/decode batches.';

export interface ServingPoint {
  model: string;
  batchSize: number;
  inputLen: number;
  outputLen: number;
  /** The batch's prefill; null where the run measured no prefill (decode mode). */
  ttftMs: number | null;
  /** Mean decode step per token a request emits (MTP: divided by the accepted tokens per step). */
  tpotMs: number;
  itlMeanMs: number;
  itlMedianMs: number;
  itlP90Ms: number;
  e2eMs: number | null;
  tokPerSPerUser: number;
  /** One device ran the batch, so the run's decode throughput is per GPU. */
  tokPerSPerGpu: number;
  pareto: boolean;
}

export interface ServingView {
  note: string;
  points: ServingPoint[];
}

function servingPoint(p: RunPoint): ServingPoint | null {
  const mean = p.decode_mean_ms, median = p.decode_median_ms, p90 = p.decode_p90_ms, perGpu = p.median_decode_throughput;
  if (!p.ok || mean === null || median === null || p90 === null || perGpu === null) return null;
  const tokensPerStep = p.accepted_per_step ?? 1;
  const tpotMs = mean / tokensPerStep;
  const ttftMs = p.prefill_ms;
  return {
    model: p.model,
    batchSize: p.batch_size,
    inputLen: p.input_len,
    outputLen: p.output_len,
    ttftMs,
    tpotMs,
    itlMeanMs: mean,
    itlMedianMs: median,
    itlP90Ms: p90,
    e2eMs: ttftMs === null ? null : ttftMs + (p.output_len - 1) * tpotMs,
    tokPerSPerUser: perGpu / p.batch_size,
    tokPerSPerGpu: perGpu,
    pareto: false,
  };
}

const workload = (s: ServingPoint): string => `${s.model} in=${s.inputLen} out=${s.outputLen}`;

/** Marks the points no other point of the same workload beats on both per-user and per-GPU tok/s. */
function markPareto(points: ServingPoint[]): void {
  for (const s of points) {
    s.pareto = !points.some(
      (o) =>
        o !== s && workload(o) === workload(s) && o.tokPerSPerUser >= s.tokPerSPerUser && o.tokPerSPerGpu >= s.tokPerSPerGpu &&
        (o.tokPerSPerUser > s.tokPerSPerUser || o.tokPerSPerGpu > s.tokPerSPerGpu),
    );
  }
}

/** The serving view of a sweep's points with decode steps (failed and prefill-only points are left out). */
export function servingView(points: readonly RunPoint[]): ServingView {
  const out = points.map(servingPoint).filter((s): s is ServingPoint => s !== null);
  out.sort((a, b) => workload(a).localeCompare(workload(b)) || a.inputLen - b.inputLen || a.batchSize - b.batchSize);
  markPareto(out);
  return { note: DERIVED_NOTE, points: out };
}

export const SERVING_HEAD = [
  'Model', 'Input/Output', 'Batch', 'TTFT(ms)', 'TPOT(ms)', 'ITL mean(ms)', 'ITL median(ms)', 'ITL p90(ms)', 'E2E(ms)',
  'tok/s/user', 'tok/s/GPU', 'Pareto',
];

export function servingRows(v: ServingView): string[][] {
  return v.points.map((s) => [
    s.model, `${s.inputLen}/${s.outputLen}`, String(s.batchSize), fmtMs(s.ttftMs), fmtMs(s.tpotMs), fmtMs(s.itlMeanMs),
    fmtMs(s.itlMedianMs), fmtMs(s.itlP90Ms), fmtMs(s.e2eMs), fmtRate(s.tokPerSPerUser), fmtRate(s.tokPerSPerGpu), s.pareto ? '*' : '',
  ]);
}

export function formatServing(v: ServingView): string {
  if (v.points.length === 0) return `Serving view: no point with decode steps (run --mode both or decode).\n${v.note}`;
  const t = new Table({ head: SERVING_HEAD, chars: COMPACT, style: { head: [], border: [] } });
  for (const row of servingRows(v)) t.push(row);
  const noTtft = v.points.some((s) => s.ttftMs === null) ? '\nTTFT and E2E: - where the run had no prefill (--mode decode).' : '';
  return `Serving view (* on the Pareto frontier of tok/s/GPU against tok/s/user, per input/output length)\n${t.toString()}\n${v.note}${noTtft}`;
}
