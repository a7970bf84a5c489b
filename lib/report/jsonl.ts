// JSONL: one line per point, appended the moment the point finishes, so a sweep that is killed still
// leaves every finished point on disk (as sglang's bench_one_batch --result-filename does).
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { PointOutcome } from '../api/result.js';
import { toRecord } from './fields.js';

/** The JSON line of a point (no trailing newline). Non-finite numbers become null, as JSON has none. */
export function toJsonlLine(p: PointOutcome): string {
  return JSON.stringify(toRecord(p), (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

export function appendJsonl(file: string, p: PointOutcome): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  appendFileSync(file, toJsonlLine(p) + '\n');
}
