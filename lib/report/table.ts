// The result tables of RTP-LLM's perf_test (`Seq Len | Batch Size | Success/Total Req | Input/Output |
// Waiting Time(ms) | Decode Time(ms)`, and the same for prefill), with our columns after theirs: the
// median step, throughput, the roofline floor of the cost model (lib/api/metrics.ts), measured/floor and MBU or MFU.
// Rows are ordered as RTP-LLM prints them: by sequence length, then batch size.
import Table from 'cli-table3';
import type { PointOutcome, PointResult } from '../api/result.js';
import type { SweepResult } from '../api/bench.js';
import { formatParams } from '../model/presets.js';
import { totalParams, type Peaks } from '../api/metrics.js';
import type { PeaksMeasurement } from '../api/peaks.js';
import { THROTTLE_REASONS } from '../api/telemetry.js';

const DASH = '-';

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  return ms >= 1000 ? ms.toFixed(0) : ms >= 100 ? ms.toFixed(1) : ms.toFixed(2);
}

export function fmtRate(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return DASH;
  return x >= 100 ? Math.round(x).toString() : x.toFixed(1);
}

/** A mark on a number the cost model says cannot be: a time below its floor, a use above 100%. */
export const BEYOND_FLOOR_MARK = '!';

/** measured / floor; below 1 is marked (BEYOND_FLOOR_NOTE says why it happens). */
export function fmtRatio(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return DASH;
  return `${x.toFixed(2)}x${x < 1 ? BEYOND_FLOOR_MARK : ''}`;
}

/** MFU or MBU: a share of a measured peak; above 100% is marked. */
export function fmtUse(x: number | null | undefined): string {
  return fmtPct(x) + (x !== null && x !== undefined && x > 1 ? BEYOND_FLOOR_MARK : '');
}

export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? DASH : `${(x * 100).toFixed(1)}%`;
}

/** Bytes/s and FLOP/s with SI prefixes: 3.0e12 → '3.00 T'. */
export function fmtSi(x: number): string {
  const units: [number, string][] = [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [v, u] of units) if (x >= v) return `${(x / v).toFixed(2)} ${u}`;
  return x.toFixed(2) + ' ';
}

/** No line between body rows, as RTP-LLM prints them. */
export const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

function newTable(head: string[]): Table.Table {
  // No colours: the tables go to files and CI logs as often as to terminals.
  return new Table({ head, chars: COMPACT, style: { head: [], border: [] } });
}

function byRtpOrder(points: readonly PointOutcome[]): PointOutcome[] {
  return [...points].sort((a, b) => a.inputLen - b.inputLen || a.outputLen - b.outputLen || a.batchSize - b.batchSize);
}

function common(p: PointOutcome): string[] {
  const success = p.ok ? p.batchSize : 0;
  return [String(p.inputLen), String(p.batchSize), `${success}/${p.batchSize}`, `${p.inputLen}/${p.outputLen}`, p.ok ? fmtMs(p.waitingMs) : DASH];
}

const failedCells = (n: number, p: PointOutcome & { ok: false }): string[] => [p.error.code, ...Array<string>(n - 1).fill(DASH)];

export const DECODE_HEAD = [
  'Seq Len', 'Batch Size', 'Success/Total Req', 'Input/Output', 'Waiting Time(ms)', 'Decode Time(ms)',
  'Median Step(ms)', 'P90 Step(ms)', 'Decode tok/s', 'Floor(ms)', 'Ratio', 'MBU',
];

export const PREFILL_HEAD = [
  'Seq Len', 'Batch Size', 'Success/Total Req', 'Input/Output', 'Waiting Time(ms)', 'Prefill Time(ms)',
  'Prefill tok/s', 'Floor(ms)', 'Ratio', 'MFU',
];

/** MoE runs add the routing policy, and the experts that got tokens in the forward the counts come from. */
export const MOE_HEAD = ['MoE Routing', 'Experts Hit'];

/** MTP runs add the drafts and their pinned acceptance, and the tokens each request emitted per step. */
export const MTP_HEAD = ['MTP Drafts/Accept', 'Accepted/Step'];

function isMtp(points: readonly PointOutcome[]): boolean {
  return points.some((p) => p.mtpDrafts > 0);
}

function mtpCells(p: PointResult): string[] {
  const accepted = p.acceptedPerStep === null ? DASH : p.acceptedPerStep.toFixed(2);
  return [p.mtpDrafts > 0 ? `${p.mtpDrafts}/${p.mtpAccept}` : DASH, accepted];
}

/** Runs with device telemetry (NVML) add the phase's energy per token and whether the clocks throttled. */
export const TELEMETRY_HEAD = ['J/token', 'Throttled'];

function hasTelemetry(points: readonly PointOutcome[]): boolean {
  return points.some((p) => p.ok && p.telemetry !== null);
}

function telemetryCells(p: PointResult, table: 'prefill' | 'decode'): string[] {
  const t = p.telemetry;
  if (!t) return [DASH, DASH];
  const j = table === 'prefill' ? t.prefillJPerToken : t.decodeJPerToken;
  const throttles = t.clockEventReasons.filter((r) => (THROTTLE_REASONS as readonly string[]).includes(r));
  return [j === null ? DASH : j.toPrecision(3), t.throttled ? `THROTTLED: ${throttles.join(', ')}` : 'no'];
}

/** Runs of several ranks add the collectives' estimated time per forward (lib/api/comm-cost.ts). */
export const COMM_HEAD = ['Comm Est.(ms)'];

function isParallel(points: readonly PointOutcome[]): boolean {
  return points.some((p) => p.world > 1);
}

/**
 * The title's note on the layout: the ranks, that a batch is per DP rank (as RTP-LLM counts it) and
 * throughput summed over them, and that simulated results are estimates. A sweep has one layout.
 */
export function layoutCaption(points: readonly PointOutcome[]): string {
  const p = points.find((x) => x.world > 1);
  if (!p) return '';
  const parts = [`tp ${p.tp}, ep ${p.ep}, dp ${p.dp}: ${p.world} ranks`];
  if (p.dp > 1) parts.push('Batch Size is per DP rank, tok/s summed over the DP ranks');
  if (p.estimate) {
    const bw = p.ok && p.busBandwidthGBps !== null ? ` at ${p.busBandwidthGBps} GB/s bus bandwidth` : '';
    parts.push(`ESTIMATE: rank 0's shard measured alone, the collectives' time added${bw}`);
  }
  return ` (${parts.join('; ')})`;
}

function isMoe(points: readonly PointOutcome[]): boolean {
  return points.some((p) => p.routing !== null);
}

/** 'hit/E' where this table's forward is the one whose expert counts the point has, else '-'. */
function moeCells(p: PointResult, table: 'prefill' | 'decode'): string[] {
  const countsOf = p.decodeStepMs.length === 0 ? 'prefill' : 'decode';
  const counts = p.expertCounts;
  const hit = counts.length > 0 && countsOf === table ? `${counts.filter((c) => c > 0).length}/${counts.length}` : DASH;
  return [p.routing ?? DASH, hit];
}

/** Points with decode steps (modes decode and both); failed points of those modes too. */
function decodeRows(points: readonly PointOutcome[]): PointOutcome[] {
  return points.filter((p) => p.mode !== 'prefill' && (!p.ok || p.decode !== null));
}

function prefillRows(points: readonly PointOutcome[]): PointOutcome[] {
  return points.filter((p) => p.mode !== 'decode' && (!p.ok || p.prefillMs !== null));
}

/** A result table as data, for the terminal (cli-table3) and other renderers (markdown). */
export interface ResultTable {
  title: string;
  head: string[];
  rows: string[][];
}

function render(t: ResultTable): string {
  const table = newTable(t.head);
  for (const row of t.rows) table.push(row);
  return `${t.title}\n${table.toString()}`;
}

/** "Decode Result": Decode Time(ms) is the mean step, as RTP-LLM reports it. */
export function decodeTable(points: readonly PointOutcome[]): ResultTable {
  const moe = isMoe(points), mtp = isMtp(points), tel = hasTelemetry(points), par = isParallel(points);
  const head = [...DECODE_HEAD, ...(par ? COMM_HEAD : []), ...(moe ? MOE_HEAD : []), ...(mtp ? MTP_HEAD : []), ...(tel ? TELEMETRY_HEAD : [])];
  const rows: string[][] = [];
  for (const p of byRtpOrder(decodeRows(points))) {
    if (!p.ok) {
      rows.push([...common(p), ...failedCells(head.length - 5, p)]);
      continue;
    }
    const d = (p as PointResult).decode;
    rows.push([
      ...common(p), fmtMs(d?.mean), fmtMs(d?.median), fmtMs(d?.p90), fmtRate(p.decodeTokPerS),
      fmtMs(p.decodeFloorMs), fmtRatio(p.decodeRatio), fmtUse(p.decodeMbu), ...(par ? [fmtMs(p.decodeCommTimeEstimateMs)] : []), ...(moe ? moeCells(p, 'decode') : []),
      ...(mtp ? mtpCells(p) : []), ...(tel ? telemetryCells(p, 'decode') : []),
    ]);
  }
  return { title: `Decode Result${layoutCaption(points)}`, head, rows };
}

export function prefillTable(points: readonly PointOutcome[]): ResultTable {
  const moe = isMoe(points), tel = hasTelemetry(points), par = isParallel(points);
  const head = [...PREFILL_HEAD, ...(par ? COMM_HEAD : []), ...(moe ? MOE_HEAD : []), ...(tel ? TELEMETRY_HEAD : [])];
  const rows: string[][] = [];
  for (const p of byRtpOrder(prefillRows(points))) {
    if (!p.ok) {
      rows.push([...common(p), ...failedCells(head.length - 5, p)]);
      continue;
    }
    rows.push([
      ...common(p), fmtMs(p.prefillMs), fmtRate(p.prefillTokPerS), fmtMs(p.prefillFloorMs),
      fmtRatio(p.prefillRatio), fmtUse(p.prefillMfu), ...(par ? [fmtMs(p.prefillCommTimeEstimateMs)] : []), ...(moe ? moeCells(p, 'prefill') : []),
      ...(tel ? telemetryCells(p, 'prefill') : []),
    ]);
  }
  return { title: `Prefill Result${layoutCaption(points)}`, head, rows };
}

export function formatDecodeTable(points: readonly PointOutcome[]): string {
  return render(decodeTable(points));
}

export function formatPrefillTable(points: readonly PointOutcome[]): string {
  return render(prefillTable(points));
}

/** The result tables that apply to the points' mode (prefill, then decode). */
export function resultTables(points: readonly PointOutcome[]): ResultTable[] {
  const tables: ResultTable[] = [];
  if (prefillRows(points).length > 0) tables.push(prefillTable(points));
  if (decodeRows(points).length > 0) tables.push(decodeTable(points));
  return tables;
}

/** Per point and phase, the profiled pass's time by op kind (ms per forward and share). */
export function breakdownTables(points: readonly PointOutcome[]): ResultTable[] {
  const tables: ResultTable[] = [];
  for (const p of points) {
    if (!p.ok) continue;
    for (const [phase, ops] of [['prefill', p.breakdown.prefill], ['decode', p.breakdown.decode]] as const) {
      if (ops.length === 0) continue;
      tables.push({
        title: `Profiled ${phase} ops: bs=${p.batchSize} in=${p.inputLen} out=${p.outputLen}`,
        head: ['Op', 'ms/step', 'Share', 'Calls'],
        rows: ops.map((o) => [o.op, o.msPerStep.toFixed(3), fmtPct(o.share), String(o.calls)]),
      });
    }
  }
  return tables;
}

/** Per point, the profiled pass's time by op kind (ms per forward and share), prefill then decode. */
export function formatBreakdown(points: readonly PointOutcome[]): string {
  return breakdownTables(points).map(render).join('\n\n');
}

/** One line per failed point, for under the tables. */
export function formatFailures(points: readonly PointOutcome[]): string {
  return points
    .filter((p): p is PointOutcome & { ok: false } => !p.ok)
    .map((p) => `failed: bs=${p.batchSize} in=${p.inputLen} out=${p.outputLen}: ${p.error.code}: ${oneLine(p.error.message)}`)
    .join('\n');
}

/** Collapses a (possibly multi-line) native message into one line. */
export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** A point the tables mark: faster than its floor, or above 100% of a peak. */
function beyondFloor(p: PointOutcome): boolean {
  if (!p.ok) return false;
  const below = (r: number | null) => r !== null && r < 1;
  const above = (u: number | null) => u !== null && u > 1;
  return below(p.prefillRatio) || below(p.decodeRatio) || above(p.prefillMfu) || above(p.decodeMbu);
}

/**
 * Why a mark appears and what to do, for under the tables; undefined when nothing is marked. A time
 * cannot beat its floor, so a mark means the peak it is measured against came out low.
 */
export function beyondFloorNote(points: readonly PointOutcome[]): string | undefined {
  const marked = points.filter(beyondFloor);
  if (marked.length === 0) return undefined;
  const first = marked[0] as PointResult;
  const prov = first.provenance;
  const spread = prov && prov.peaks.attempts > 1
    ? ` (the peaks were measured ${prov.peaks.attempts} times, spread ${fmtPct(prov.peaks.spread.bytesPerS)} copy / ${fmtPct(prov.peaks.spread.flopsPerS)} GEMM${prov.peaks.steady ? '' : ', never two within 10%'})`
    : '';
  const cpu = first.device === 'cpu';
  const how = cpu
    ? 'for a steady peak run on an idle machine with --threads at most its free cores'
    : 'for a steady peak rerun with the GPU idle and its clocks settled';
  return (
    `${BEYOND_FLOOR_MARK}: ${marked.length} point${marked.length === 1 ? '' : 's'} ran faster than the floor (ratio below 1x or MFU/MBU above 100%): ` +
    `the floor's peak was measured low${cpu ? ', as on a busy CPU,' : ''}${spread}, so these ratios understate the real one; ${how}, or pass known peaks (API option peaks)`
  );
}

/** The tables that apply to the points' mode, the note on marked numbers, then the failures. */
export function formatTables(points: readonly PointOutcome[]): string {
  const parts = resultTables(points).map(render);
  const note = beyondFloorNote(points);
  if (note) parts.push(note);
  const failures = formatFailures(points);
  if (failures) parts.push(failures);
  return parts.join('\n\n');
}

/** What ran where, and the peaks the floors use (with their spread where they were measured more than once). */
export function formatRunHeader(r: Pick<SweepResult, 'runName' | 'model' | 'device' | 'deviceName' | 'dtype'> & { peaks: Peaks | PeaksMeasurement }): string {
  const m = r.model;
  const p = r.peaks;
  const repeats = 'attempts' in p && p.attempts > 1 ? ` (best of ${p.attempts} measurements, spread ${fmtPct(p.spread.bytesPerS)} / ${fmtPct(p.spread.flopsPerS)})` : '';
  return (
    `run ${r.runName}: ${m.name} (${m.modelType}, ${m.numLayers} layers, ${formatParams(totalParams(m))} params) ` +
    `on ${r.device} (${r.deviceName}, ${r.dtype}); peaks ${fmtSi(p.bytesPerS)}B/s, ${fmtSi(p.flopsPerS)}FLOP/s${repeats}`
  );
}
