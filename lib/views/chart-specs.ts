// The report's charts as Vega-Lite specs over a run's JSONL points (plot.ts renders them to SVG).
// Each builder returns null where the run has no data for its chart, with the reason.
import type { TopLevelSpec } from 'vega-lite';
import type { RunPoint } from './read-jsonl.js';
import { servingView } from './serving.js';

export interface ChartSpec {
  /** File-safe name: the .svg output's suffix and the HTML section's id. */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

export interface OmittedChart {
  name: string;
  title: string;
  reason: string;
}

type Built = ChartSpec | OmittedChart;

const WIDTH = 320;
const HEIGHT = 220;
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** The facet of the charts drawn per phase: prefill's column, then decode's (a fresh object per spec). */
function byPhase() {
  return { column: { field: 'phase', type: 'nominal' as const, title: null, sort: ['prefill', 'decode'] } };
}

/** The line a series is drawn as: the input length, and the run where a file holds several. */
function seriesOf(points: readonly RunPoint[]): (p: RunPoint) => string {
  const runs = new Set(points.map((p) => p.run_name)).size;
  return (p) => (runs > 1 ? `${p.run_name} in=${p.input_len}` : `in=${p.input_len}`);
}

/** Batch sizes on a log2 scale, ticked at the sizes that ran (vega's log ticks would add 1.5, 2.5, …). */
function batchAxis(points: readonly RunPoint[]) {
  const values = [...new Set(points.map((p) => p.batch_size))].sort((a, b) => a - b);
  return { field: 'batch', type: 'quantitative', title: 'batch size', scale: { type: 'log', base: 2 }, axis: { values, format: 'd' } } as const;
}

function phaseRows(points: readonly RunPoint[]) {
  const series = seriesOf(points);
  const rows: { phase: string; series: string; batch: number; input: number; kind: string; ms: number; tokPerS: number; ratio: number | null }[] = [];
  for (const p of points) {
    if (!p.ok) continue;
    const perStep = p.accepted_per_step ?? 1;
    const phases = [
      ['prefill', p.prefill_ms, p.prefill_floor_ms, p.prefill_throughput, p.prefill_ratio, p.batch_size * p.input_len],
      ['decode', p.decode_median_ms, p.decode_floor_ms, p.median_decode_throughput, p.decode_ratio, p.batch_size * perStep],
    ] as const;
    for (const [phase, ms, floor, tokPerS, ratio, tokens] of phases) {
      if (ms === null || tokPerS === null) continue;
      const base = { phase, series: series(p), batch: p.batch_size, input: p.input_len };
      rows.push({ ...base, kind: 'measured', ms, tokPerS, ratio });
      if (floor !== null) rows.push({ ...base, kind: 'floor', ms: floor, tokPerS: (tokens / floor) * 1000, ratio: null });
    }
  }
  return rows;
}

/** A measured metric and its floor (dashed) against batch size, one line per input length, per phase. */
function againstBatch(points: readonly RunPoint[], name: string, title: string, field: 'ms' | 'tokPerS', yTitle: string): Built {
  const rows = phaseRows(points);
  if (rows.length === 0) return { name, title, reason: 'no successful point' };
  return {
    name,
    title,
    spec: {
      $schema: SCHEMA,
      data: { values: rows },
      facet: byPhase(),
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        mark: { type: 'line', point: true },
        encoding: {
          x: batchAxis(points),
          y: { field, type: 'quantitative', title: yTitle, scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: 'input length' },
          strokeDash: { field: 'kind', type: 'nominal', title: 'line', sort: ['measured', 'floor'] },
          tooltip: [{ field: 'batch' }, { field: 'series' }, { field: 'kind' }, { field }],
        },
      },
    },
  };
}

function heatMap(points: readonly RunPoint[]): Built {
  const name = 'ratio-heatmap', title = 'Ratio to floor over the grid (measured / floor; 1 is at the floor)';
  const rows = phaseRows(points).filter((r) => r.kind === 'measured' && r.ratio !== null);
  if (rows.length === 0) return { name, title, reason: 'no point has a floor' };
  const cell = { x: { field: 'batch', type: 'ordinal', title: 'batch size' }, y: { field: 'input', type: 'ordinal', title: 'input length', sort: 'descending' } } as const;
  return {
    name,
    title,
    spec: {
      $schema: SCHEMA,
      data: { values: rows },
      facet: byPhase(),
      spec: {
        width: WIDTH,
        height: HEIGHT,
        encoding: cell,
        layer: [
          { mark: 'rect', encoding: { color: { field: 'ratio', type: 'quantitative', title: 'ratio', scale: { scheme: 'orangered' } } } },
          { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'ratio', type: 'quantitative', format: '.2f' } } },
        ],
      },
    },
  };
}

function opBars(points: readonly RunPoint[]): Built {
  const name = 'ops', title = 'Per-op time of the profiled pass (ms per forward)';
  const rows: { phase: string; point: string; op: string; ms: number }[] = [];
  for (const p of points) {
    if (!p.ok) continue;
    for (const [phase, names, ms] of [['prefill', p.prefill_op_names, p.prefill_op_ms], ['decode', p.decode_op_names, p.decode_op_ms]] as const) {
      names?.forEach((op, i) => rows.push({ phase, point: `bs=${p.batch_size} in=${p.input_len}`, op, ms: ms?.[i] ?? 0 }));
    }
  }
  if (rows.length === 0) return { name, title, reason: 'the run was not profiled (gpubench run --profile prefill|decode|both)' };
  return {
    name,
    title,
    spec: {
      $schema: SCHEMA,
      data: { values: rows },
      facet: byPhase(),
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        mark: 'bar',
        encoding: {
          x: { field: 'point', type: 'nominal', title: null, sort: null, axis: { labelAngle: -40 } },
          y: { field: 'ms', type: 'quantitative', aggregate: 'sum', title: 'ms per forward', stack: 'zero' },
          color: { field: 'op', type: 'nominal', title: 'op', scale: { scheme: 'tableau20' } },
          order: { field: 'ms', aggregate: 'sum', type: 'quantitative', sort: 'descending' },
          tooltip: [{ field: 'point' }, { field: 'op' }, { field: 'ms', aggregate: 'sum', format: '.3f' }],
        },
      },
    },
  };
}

const TELEMETRY = [
  ['sm_clock_mhz', 'SM clock (MHz)'],
  ['mem_clock_mhz', 'memory clock (MHz)'],
  ['power_w', 'power (W)'],
  ['temp_c', 'temperature (°C)'],
  ['mem_used_bytes', 'memory used (bytes)'],
] as const;

function telemetry(points: readonly RunPoint[]): Built {
  const name = 'telemetry', title = 'Device telemetry over time';
  const rows: { point: string; t: number; metric: string; value: number }[] = [];
  for (const p of points) {
    for (const s of p.telemetry ?? []) {
      for (const [field, metric] of TELEMETRY) {
        const value = s[field];
        if (value !== null) rows.push({ point: `bs=${p.batch_size} in=${p.input_len}`, t: s.t_ms, metric, value });
      }
    }
  }
  if (rows.length === 0) return { name, title, reason: 'no telemetry in this run (the JSONL has no telemetry samples)' };
  return {
    name,
    title,
    spec: {
      $schema: SCHEMA,
      data: { values: rows },
      facet: { row: { field: 'metric', type: 'nominal', title: null } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: WIDTH * 2,
        height: 90,
        mark: 'line',
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'time (ms)' },
          y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
          color: { field: 'point', type: 'nominal', title: 'point' },
        },
      },
    },
  };
}

function pareto(points: readonly RunPoint[]): Built {
  const name = 'pareto', title = 'Throughput per GPU against throughput per user (derived from forward passes, not a server under load)';
  const v = servingView(points);
  if (v.points.length === 0) return { name, title, reason: 'no point with decode steps' };
  const rows = v.points.map((s) => ({
    workload: `in=${s.inputLen} out=${s.outputLen}`, batch: s.batchSize, perUser: s.tokPerSPerUser, perGpu: s.tokPerSPerGpu,
    frontier: s.pareto ? 'frontier' : 'dominated',
  }));
  const enc = {
    x: { field: 'perUser', type: 'quantitative', title: 'tokens/s per user', scale: { zero: false } },
    y: { field: 'perGpu', type: 'quantitative', title: 'tokens/s per GPU', scale: { zero: false } },
    color: { field: 'workload', type: 'nominal', title: 'input/output' },
  } as const;
  return {
    name,
    title,
    spec: {
      $schema: SCHEMA,
      data: { values: rows },
      width: WIDTH * 2,
      height: HEIGHT + 60,
      layer: [
        { transform: [{ filter: "datum.frontier == 'frontier'" }], mark: 'line', encoding: { ...enc, order: { field: 'perUser', type: 'quantitative' } } },
        { mark: { type: 'point', filled: true, size: 60 }, encoding: { ...enc, shape: { field: 'frontier', type: 'nominal', title: null } } },
        { mark: { type: 'text', dx: 8, dy: -8, fontSize: 10 }, encoding: { x: enc.x, y: enc.y, text: { field: 'batch', type: 'quantitative', format: 'd' } } },
      ],
    },
  };
}

/** Every chart of the report, in order; the ones without data come back as OmittedChart. */
export function reportCharts(points: readonly RunPoint[]): Built[] {
  return [
    againstBatch(points, 'step-time', 'Step time against batch size (dashed: the floor)', 'ms', 'ms per forward (decode: median step)'),
    againstBatch(points, 'throughput', 'Tokens/s against batch size (dashed: the ceiling at the floor)', 'tokPerS', 'tokens/s'),
    heatMap(points),
    opBars(points),
    pareto(points),
    telemetry(points),
  ];
}

export function isChart(b: Built): b is ChartSpec {
  return 'spec' in b;
}
