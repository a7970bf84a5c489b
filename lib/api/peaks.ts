// The device peaks the floors, MFU and MBU are measured against. The addon measures each as the
// fastest of several timed calls; on a CPU shared with other work one such measurement can still
// come out low, which makes ratios below 1 and MFU above 100%. So on the CPU the measurement is
// repeated until two in a row agree within PEAK_TOLERANCE (or PEAK_MAX_ATTEMPTS is reached), the
// best of them is kept, and the result says how far they spread. Under a layout of several ranks
// the addon also measures the all-reduce bus bandwidth of the layout's own communicator (nccl-tests'
// busbw, docs/design.md section 4), which prices the collectives (comm-cost.ts).
import type { NativeBusPeak, NativePeaks } from '../bridge/native.js';
import type { Peaks } from './metrics.js';

export const PEAK_TOLERANCE = 0.1;
export const PEAK_MAX_ATTEMPTS = 5;

export interface PeaksMeasurement extends Peaks {
  /** How the peaks were obtained, in words (the copy and GEMM sizes, the repeats). */
  method: string;
  /** Measurements taken (1 on a GPU; the CPU repeats until two agree). */
  attempts: number;
  /** (max − min) / max over the measurements, per peak; 0 after one measurement. */
  spread: Peaks;
  /** The last two measurements agreed within PEAK_TOLERANCE (true for a single GPU measurement). */
  steady: boolean;
  /** The measured all-reduce bus bandwidth (the best of the measurements); null for one rank, a simulated layout or given peaks. */
  bus: NativeBusPeak | null;
}

const agree = (a: number, b: number) => Math.abs(a - b) / Math.max(a, b) <= PEAK_TOLERANCE;
const spreadOf = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / Math.max(...xs);

const mibOf = (bytes: number) => Math.round(bytes / 2 ** 20);

function sizes(p: NativePeaks): string {
  const bus = p.bus ? `; all-reduce of ${mibOf(p.bus.bytes)} MiB over ${p.bus.ranks} ranks, the median of ${p.bus.calls.count} timed calls` : '';
  return `copy of ${mibOf(p.copyBytes)} MiB and ${p.gemmM}x${p.gemmN}x${p.gemmK} GEMM, each the fastest of several timed calls${bus}`;
}

/** Measures the peaks: once on a GPU, on the CPU until two measurements agree (see above). */
export async function measureSteadyPeaks(measure: () => Promise<NativePeaks>, repeat: boolean): Promise<PeaksMeasurement> {
  const runs: NativePeaks[] = [await measure()];
  let steady = !repeat;
  while (repeat && runs.length < PEAK_MAX_ATTEMPTS) {
    runs.push(await measure());
    const [a, b] = runs.slice(-2) as [NativePeaks, NativePeaks];
    if (agree(a.flopsPerS, b.flopsPerS) && agree(a.bytesPerS, b.bytesPerS)) {
      steady = true;
      break;
    }
  }
  const flops = runs.map((r) => r.flopsPerS);
  const bytes = runs.map((r) => r.bytesPerS);
  const first = runs[0] as NativePeaks;
  // The timed calls behind each kept peak: those of the measurement that gave it.
  const bestCopy = runs.reduce((a, b) => (b.bytesPerS > a.bytesPerS ? b : a));
  const bestGemm = runs.reduce((a, b) => (b.flopsPerS > a.flopsPerS ? b : a));
  const buses = runs.flatMap((r) => (r.bus ? [r.bus] : []));
  const bus = buses.length === 0 ? null : buses.reduce((a, b) => (b.bytesPerS > a.bytesPerS ? b : a));
  const how = repeat
    ? `${sizes(first)}; measured ${runs.length} times (until two agree within ${PEAK_TOLERANCE * 100}%, at most ${PEAK_MAX_ATTEMPTS}), the best kept`
    : sizes(first);
  return {
    flopsPerS: Math.max(...flops),
    bytesPerS: Math.max(...bytes),
    ...(bestCopy.copyCalls && { copyCalls: bestCopy.copyCalls }),
    ...(bestGemm.gemmCalls && { gemmCalls: bestGemm.gemmCalls }),
    method: how,
    attempts: runs.length,
    spread: { flopsPerS: spreadOf(flops), bytesPerS: spreadOf(bytes) },
    steady,
    bus,
  };
}

/** Peaks the caller gave (the `peaks` option): nothing measured. */
export function givenPeaks(p: Peaks): PeaksMeasurement {
  return {
    flopsPerS: p.flopsPerS,
    bytesPerS: p.bytesPerS,
    ...(p.copyCalls && { copyCalls: p.copyCalls }),
    ...(p.gemmCalls && { gemmCalls: p.gemmCalls }),
    method: 'given (the peaks option), not measured', attempts: 0, spread: { flopsPerS: 0, bytesPerS: 0 }, steady: true, bus: null,
  };
}
