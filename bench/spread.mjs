// Statistics across repeated benchmark processes (bench/gpu-roofline.mjs --repeat N): the median of
// the processes' values and their spread, max / min - 1.

/** The median of numbers (the mean of the middle two for an even count); NaN for none. */
export function median(values) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** max / min - 1 of positive numbers: 0.01 means the largest is 1% above the smallest. */
export function spread(values) {
  if (values.length === 0) return NaN;
  return Math.max(...values) / Math.min(...values) - 1;
}

/**
 * One row per point key over every process's rows ({key, ms, floorMs, flops, bytes}, ok rows only):
 * the median ms and floor, ratio = median ms / median floor, MFU and MBU at the median ms against
 * the median peaks, and the spread of the processes' ms.
 */
export function summarizePoints(processes) {
  const peaks = summarizePeaks(processes);
  const keys = [...new Set(processes.flatMap((p) => p.points.map((r) => r.key)))];
  return keys.map((key) => {
    const rows = processes.flatMap((p) => p.points.filter((r) => r.key === key && r.ok));
    if (rows.length === 0) return { key, processes: 0 };
    const ms = median(rows.map((r) => r.ms));
    const floorMs = median(rows.map((r) => r.floorMs));
    const { flops, bytes } = rows[0];
    return {
      key,
      processes: rows.length,
      ms,
      floorMs,
      ratio: ms / floorMs,
      mfu: flops / (ms / 1e3) / peaks.flopsPerS.median,
      mbu: bytes / (ms / 1e3) / peaks.bytesPerS.median,
      spread: spread(rows.map((r) => r.ms)),
    };
  });
}

/** Each peak's median and spread over the processes, and the widest in-process spread of its timed calls. */
export function summarizePeaks(processes) {
  const one = (rate, calls) => ({
    median: median(processes.map((p) => p.peaks[rate])),
    spread: spread(processes.map((p) => p.peaks[rate])),
    callSpread: Math.max(...processes.map((p) => (p.peaks[calls] ? p.peaks[calls].maxMs / p.peaks[calls].minMs - 1 : NaN))),
  });
  return { bytesPerS: one('bytesPerS', 'copyCalls'), flopsPerS: one('flopsPerS', 'gemmCalls') };
}
