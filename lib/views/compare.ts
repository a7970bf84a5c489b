// `gpubench compare base.jsonl new.jsonl`: the same grid points of two runs side by side, with the
// change of each headline metric and the regressions beyond a threshold. Points match on model,
// mode, batch, input and output length, MoE routing and MTP settings (pointKey); where a file holds
// a point twice (appended runs), its last line counts.
import Table from 'cli-table3';
import { InvalidArgumentError } from '../base/errors.js';
import { COMPACT, fmtMs, fmtRate, fmtRatio } from '../report/table.js';
import { pointKey, type RunPoint } from './read-jsonl.js';

/**
 * 5%: above the run-to-run spread of a GPU's step times (a few percent, docs/perf.md) so a rerun of
 * the same build passes; a noisy shared CPU needs a larger --threshold.
 */
export const DEFAULT_THRESHOLD_PCT = 5;

export const COMPARE_METRICS = [
  { name: 'prefill ms', field: 'prefill_ms', worse: 'higher', judged: true },
  { name: 'decode step ms (median)', field: 'decode_median_ms', worse: 'higher', judged: true },
  { name: 'prefill tok/s', field: 'prefill_throughput', worse: 'lower', judged: true },
  { name: 'decode tok/s', field: 'median_decode_throughput', worse: 'lower', judged: true },
  // Shown, not judged: each run's floor uses the peaks it measured itself, which move between runs.
  { name: 'prefill ratio to floor', field: 'prefill_ratio', worse: 'higher', judged: false },
  { name: 'decode ratio to floor', field: 'decode_ratio', worse: 'higher', judged: false },
] as const satisfies readonly { name: string; field: keyof RunPoint; worse: 'higher' | 'lower'; judged: boolean }[];

export type CompareMetric = (typeof COMPARE_METRICS)[number]['name'];

export interface CompareOptions {
  /** A judged metric that got worse by more than this many percent is a regression (default 5). */
  thresholdPct?: number;
}

export interface MetricChange {
  metric: CompareMetric;
  base: number | null;
  next: number | null;
  /** (next − base) / base in percent; null where either side has no value. */
  changePct: number | null;
  regressed: boolean;
}

export interface PointComparison {
  key: string;
  base: RunPoint;
  next: RunPoint;
  metrics: MetricChange[];
  /** Set where the point ran in the base run and failed in the new one (a regression too). */
  newFailure: string | null;
  regressed: boolean;
}

export interface CompareResult {
  thresholdPct: number;
  points: PointComparison[];
  onlyInBase: string[];
  onlyInNew: string[];
  regressions: number;
}

function byKey(points: readonly RunPoint[]): Map<string, RunPoint> {
  return new Map(points.map((p) => [pointKey(p), p]));
}

function changeOf(m: (typeof COMPARE_METRICS)[number], base: RunPoint, next: RunPoint, thresholdPct: number): MetricChange {
  const b = base[m.field] as number | null;
  const n = next[m.field] as number | null;
  const changePct = b !== null && n !== null && b !== 0 ? ((n - b) / b) * 100 : null;
  const worsePct = changePct === null ? 0 : m.worse === 'higher' ? changePct : -changePct;
  return { metric: m.name, base: b, next: n, changePct, regressed: m.judged && worsePct > thresholdPct };
}

/** Matches the points of two runs (base, then new) and judges each change against the threshold. */
export function compareRuns(base: readonly RunPoint[], next: readonly RunPoint[], options: CompareOptions = {}): CompareResult {
  const thresholdPct = options.thresholdPct ?? DEFAULT_THRESHOLD_PCT;
  if (!Number.isFinite(thresholdPct) || thresholdPct < 0) {
    throw new InvalidArgumentError(`thresholdPct: ${thresholdPct} is not allowed (allowed: a percentage >= 0)`, { field: 'thresholdPct' });
  }
  const a = byKey(base), b = byKey(next);
  const points: PointComparison[] = [];
  for (const [key, p] of a) {
    const q = b.get(key);
    if (q === undefined) continue;
    const metrics = p.ok && q.ok
      ? COMPARE_METRICS.map((m) => changeOf(m, p, q, thresholdPct)).filter((c) => c.base !== null || c.next !== null)
      : [];
    const newFailure = p.ok && !q.ok ? (q.error_code ?? 'failed') : null;
    points.push({ key, base: p, next: q, metrics, newFailure, regressed: newFailure !== null || metrics.some((m) => m.regressed) });
  }
  return {
    thresholdPct,
    points,
    onlyInBase: [...a.keys()].filter((k) => !b.has(k)),
    onlyInNew: [...b.keys()].filter((k) => !a.has(k)),
    regressions: points.filter((p) => p.regressed).length,
  };
}

function fmtValue(metric: CompareMetric, v: number | null): string {
  if (metric.includes('ratio')) return fmtRatio(v);
  return metric.includes('tok/s') ? fmtRate(v) : fmtMs(v);
}

function fmtChange(pct: number | null): string {
  return pct === null ? '-' : `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

/** The comparison as a table (one row per point and metric), then the unmatched points and a verdict. */
export function formatComparison(r: CompareResult): string {
  const t = new Table({ head: ['Point', 'Metric', 'Base', 'New', 'Change', 'Verdict'], chars: COMPACT, style: { head: [], border: [] } });
  for (const p of r.points) {
    if (p.newFailure !== null) t.push([p.key, 'ok', 'ok', `failed: ${p.newFailure}`, '-', 'REGRESSED']);
    if (!p.base.ok && !p.next.ok) t.push([p.key, 'ok', 'failed', 'failed', '-', '']);
    if (!p.base.ok && p.next.ok) t.push([p.key, 'ok', 'failed', 'ok', '-', 'fixed']);
    for (const m of p.metrics) {
      t.push([p.key, m.metric, fmtValue(m.metric, m.base), fmtValue(m.metric, m.next), fmtChange(m.changePct), m.regressed ? 'REGRESSED' : '']);
    }
  }
  const parts = [`Compare (threshold ${r.thresholdPct}%; ratios are shown, not judged)\n${t.toString()}`];
  if (r.onlyInBase.length > 0) parts.push(`only in base:\n${r.onlyInBase.map((k) => `  ${k}`).join('\n')}`);
  if (r.onlyInNew.length > 0) parts.push(`only in new:\n${r.onlyInNew.map((k) => `  ${k}`).join('\n')}`);
  parts.push(
    r.regressions > 0
      ? `${r.regressions} of ${r.points.length} matched points regressed beyond ${r.thresholdPct}%`
      : `no regression beyond ${r.thresholdPct}% in ${r.points.length} matched points`,
  );
  return parts.join('\n\n');
}
