// JSONL: one line per point, appended the moment the point finishes, so a sweep that is killed still
// leaves every finished point on disk (as sglang's bench_one_batch --result-filename does); each line
// is one write (append-line.ts).
import type { PointOutcome } from '../api/result.js';
import { toRecord } from './fields.js';
import { appendLine } from './append-line.js';

/** The JSON line of a point (no trailing newline). Non-finite numbers become null, as JSON has none. */
export function toJsonlLine(p: PointOutcome): string {
  return JSON.stringify(toRecord(p), (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

export function appendJsonl(file: string, p: PointOutcome): void {
  appendLine(file, toJsonlLine(p));
}
