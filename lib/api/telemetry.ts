// A point's device telemetry, summarised from what the addon sampled during the timed pass
// (native/core/telemetry.h): min/median/max of each reading, the pass's energy and joules per token
// of its prefill and decode, and whether the clocks were throttled.
import type { NativeTelemetry, NativeTelemetrySample } from '../bridge/native.js';
import { percentile } from './stats.js';

export type TelemetrySample = NativeTelemetrySample;

export interface Range {
  min: number;
  median: number;
  max: number;
}

/** NVML's clocks event reason bits (nvmlClocksEventReason*), by name. */
export const CLOCK_EVENT_REASONS = {
  gpu_idle: 0x1,
  applications_clocks_setting: 0x2,
  sw_power_cap: 0x4,
  hw_slowdown: 0x8,
  sync_boost: 0x10,
  sw_thermal_slowdown: 0x20,
  hw_thermal_slowdown: 0x40,
  hw_power_brake_slowdown: 0x80,
  display_clock_setting: 0x100,
} as const;

/** The reasons that mean the device slowed itself (power or heat), not that it idled or was set so. */
export const THROTTLE_REASONS = ['sw_power_cap', 'hw_slowdown', 'sw_thermal_slowdown', 'hw_thermal_slowdown', 'hw_power_brake_slowdown'] as const;

export interface PointTelemetry {
  samples: TelemetrySample[];
  smClockMhz: Range | null;
  memClockMhz: Range | null;
  powerW: Range | null;
  tempC: Range | null;
  memUsedBytes: Range | null;
  /** Energy of the timed pass (J); null where the device has no energy counter. */
  energyJ: number | null;
  prefillJPerToken: number | null;
  decodeJPerToken: number | null;
  /** Every clocks event reason seen during the pass (names of CLOCK_EVENT_REASONS). */
  clockEventReasons: string[];
  /** A THROTTLE_REASONS reason was seen: the timings ran on slowed clocks. */
  throttled: boolean;
}

function range(samples: readonly TelemetrySample[], field: Exclude<keyof TelemetrySample, 't_ms'>): Range | null {
  const values = samples.map((s) => s[field]).filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (values.length === 0) return null;
  return { min: values[0] as number, median: percentile(values, 0.5), max: values[values.length - 1] as number };
}

/** The names of the reason bits set in `bits`. */
export function reasonNames(bits: number): string[] {
  return Object.entries(CLOCK_EVENT_REASONS).filter(([, bit]) => (bits & bit) !== 0).map(([name]) => name);
}

/**
 * The summary of one timed pass. prefillTokens: B × input_len where the pass had a prefill, else 0;
 * decodeTokens: the tokens its decode steps emitted (0 without decode steps).
 */
export function summarizeTelemetry(t: NativeTelemetry, prefillTokens: number, decodeTokens: number): PointTelemetry {
  // The counter at start, after the prefill, at the end (mJ).
  const [start, mid, end] = t.energyMj.length === 3 ? t.energyMj : [];
  const joules = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? null : (b - a) / 1000);
  const prefillJ = joules(start, mid);
  const decodeJ = joules(mid, end);
  const clockEventReasons = reasonNames(t.reasons);
  return {
    samples: t.samples,
    smClockMhz: range(t.samples, 'sm_clock_mhz'),
    memClockMhz: range(t.samples, 'mem_clock_mhz'),
    powerW: range(t.samples, 'power_w'),
    tempC: range(t.samples, 'temp_c'),
    memUsedBytes: range(t.samples, 'mem_used_bytes'),
    energyJ: joules(start, end),
    prefillJPerToken: prefillJ !== null && prefillTokens > 0 ? prefillJ / prefillTokens : null,
    decodeJPerToken: decodeJ !== null && decodeTokens > 0 ? decodeJ / decodeTokens : null,
    clockEventReasons,
    throttled: clockEventReasons.some((r) => (THROTTLE_REASONS as readonly string[]).includes(r)),
  };
}
