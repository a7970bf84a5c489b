// CSV with the JSONL's fields: the header is written once, when the file is new or empty, then one
// row per point as it finishes, each in one write (append-line.ts). Lists (trace files, notes) are
// joined with ';'; null is an empty cell.
import { existsSync, statSync } from 'node:fs';
import type { PointOutcome } from '../api/result.js';
import { FIELDS, toRecord, type FieldValue } from './fields.js';
import { appendLine } from './append-line.js';

/** RFC 4180 quoting: only cells with a comma, quote or line break are quoted. */
function cell(v: FieldValue): string {
  if (v === null) return '';
  const text = Array.isArray(v) ? (v as unknown[]).join(';') : typeof v === 'number' && !Number.isFinite(v) ? '' : String(v);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

// The telemetry samples are a list of records, which a cell cannot hold: JSONL only.
const CSV_FIELDS = FIELDS.filter((f) => f !== 'telemetry');

export function csvHeader(): string {
  return CSV_FIELDS.join(',');
}

export function toCsvLine(p: PointOutcome): string {
  const r = toRecord(p);
  return CSV_FIELDS.map((f) => cell(r[f])).join(',');
}

export function appendCsv(file: string, p: PointOutcome): void {
  const fresh = !existsSync(file) || statSync(file).size === 0;
  appendLine(file, (fresh ? csvHeader() + '\n' : '') + toCsvLine(p));
}
