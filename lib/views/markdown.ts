// The result tables as GitHub-flavoured markdown (for `--format md`, pull requests and docs): the same
// rows as the terminal tables, numeric columns right-aligned, then the failures as a list.
import type { PointOutcome } from '../api/result.js';
import { beyondFloorNote, breakdownTables, formatFailures, resultTables, type ResultTable } from '../report/table.js';

const NUMERIC = /^(-|[-+]?\d[\d.,]*(x|%)?!?|\d+\/\d+)$/;

/** A cell with its pipes escaped and line breaks folded, so it stays one markdown cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** One table: `**title**`, a blank line, then the pipe table. */
export function markdownTable(t: ResultTable): string {
  const numeric = t.head.map((_, c) => t.rows.length > 0 && t.rows.every((r) => NUMERIC.test(r[c] ?? '')));
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`;
  return [`**${cell(t.title)}**`, '', line(t.head), rule, ...t.rows.map(line)].join('\n');
}

export interface MarkdownOptions {
  /** Add the per-op tables of the profiled pass (default false). */
  breakdown?: boolean;
}

/** The result tables that apply to the points (prefill, decode), then failed points as a list. */
export function formatTablesMarkdown(points: readonly PointOutcome[], options: MarkdownOptions = {}): string {
  const tables = [...resultTables(points), ...(options.breakdown ? breakdownTables(points) : [])];
  const parts = tables.map(markdownTable);
  const note = beyondFloorNote(points);
  if (note) parts.push(cell(note));
  const failures = formatFailures(points);
  if (failures) parts.push(failures.split('\n').map((f) => `- ${cell(f)}`).join('\n'));
  return parts.join('\n\n') + '\n';
}
