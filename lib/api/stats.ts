// Summary statistics of per-step times. Percentiles interpolate linearly between order statistics
// (numpy's default), so the median of an even count is the mean of the middle two and a report can
// be checked against numpy. stddev is the population one (ddof = 0): the steps are the whole run,
// not a sample of a larger one.

export interface Stats {
  count: number;
  median: number;
  mean: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  stddev: number;
}

/** q in [0, 1] of an ascending-sorted, non-empty list. */
export function percentile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('percentile of an empty list');
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function summarize(values: readonly number[]): Stats {
  if (values.length === 0) throw new RangeError('summarize: empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = sorted.reduce((s, x) => s + x, 0) / n;
  const variance = sorted.reduce((s, x) => s + (x - mean) * (x - mean), 0) / n;
  return {
    count: n,
    median: percentile(sorted, 0.5),
    mean,
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    min: sorted[0] as number,
    max: sorted[n - 1] as number,
    stddev: Math.sqrt(variance),
  };
}
