// How the benchmark scripts print numbers in their tables.

/** 0.123 -> "12.3%". */
export const pct = (x) => `${(x * 100).toFixed(1)}%`;

/** 3.021 TB/s, 812.4 TFLOP/s on a GPU; 16.3 GB/s, 23.4 GFLOP/s on the CPU. */
export const si = (x, unit) => (x >= 1e12 ? `${(x / 1e12).toFixed(3)} T${unit}` : `${(x / 1e9).toFixed(2)} G${unit}`);

/** A number rounded to d decimals for a table cell; null where it is not finite. */
export const fixed = (x, d = 3) => (Number.isFinite(x) ? +x.toFixed(d) : null);
