// A whole run as one JSON file: a `run` header (what ran where, the peaks the floors use) and the
// points with the JSONL's fields. The header carries the run's provenance (commit, driver, clocks…)
// where the summary has it, and is an open record: callers add fields through `extra`, and readers
// keep what they do not know.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SweepResult } from '../api/bench.js';
import { totalParams, type Peaks } from '../api/metrics.js';
import type { Provenance } from '../api/provenance.js';
import { toRecord, type PointRecord } from '../report/fields.js';

export const RESULT_FILE_VERSION = 1;

export interface RunHeader {
  format_version: number;
  run_name: string;
  created_at: string;
  model: { name: string; model_type: string; num_layers: number; params: number };
  device: string;
  device_name: string;
  dtype: string;
  peak_flops_per_s: number;
  peak_bytes_per_s: number;
  [field: string]: unknown;
}

export interface ResultFile {
  run: RunHeader;
  points: PointRecord[];
}

/** What the file is written from: a SweepResult, or the same fields gathered otherwise (the provenance is optional). */
export type RunSummary = Pick<SweepResult, 'runName' | 'model' | 'device' | 'deviceName' | 'dtype' | 'points'> & {
  peaks: Peaks;
  provenance?: Provenance;
};

/** The result file's object; `extra` fields are added to the header (they may not replace its own). */
export function toResultFile(r: RunSummary, extra: Record<string, unknown> = {}, now: Date = new Date()): ResultFile {
  const run: RunHeader = {
    ...extra,
    format_version: RESULT_FILE_VERSION,
    run_name: r.runName,
    created_at: now.toISOString(),
    model: { name: r.model.name, model_type: r.model.modelType, num_layers: r.model.numLayers, params: totalParams(r.model) },
    device: r.device,
    device_name: r.deviceName,
    dtype: r.dtype,
    peak_flops_per_s: r.peaks.flopsPerS,
    peak_bytes_per_s: r.peaks.bytesPerS,
    ...(r.provenance ? { provenance: r.provenance } : {}),
  };
  return { run, points: r.points.map(toRecord) };
}

/** JSON text: non-finite numbers become null, as JSON has none (as the JSONL writer does). */
export function resultFileJson(file: ResultFile): string {
  return JSON.stringify(file, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

export function writeResultFile(file: string, r: RunSummary, extra: Record<string, unknown> = {}): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, resultFileJson(toResultFile(r, extra)));
}
