// `gpubench plot`: renders the report's Vega-Lite charts to SVG in Node (vega's headless View, no
// canvas) and writes them as one HTML page with the SVGs inline (it opens offline: no script, no
// CDN) or as one .svg file per chart.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { InvalidArgumentError } from '../base/errors.js';
import { isChart, reportCharts, type ChartSpec, type OmittedChart } from './chart-specs.js';
import type { RunPoint } from './read-jsonl.js';
import { DERIVED_NOTE, SERVING_HEAD, servingRows, servingView } from './serving.js';

export interface RenderedChart {
  name: string;
  title: string;
  svg: string;
}

export interface RenderedReport {
  charts: RenderedChart[];
  /** Charts left out, each with why (no profile, no telemetry, ...). */
  omitted: OmittedChart[];
}

export async function renderChart(chart: ChartSpec): Promise<RenderedChart> {
  const view = new vega.View(vega.parse(compile(chart.spec).spec), { renderer: 'none' });
  try {
    return { name: chart.name, title: chart.title, svg: await view.toSVG() };
  } finally {
    view.finalize();
  }
}

export async function renderReport(points: readonly RunPoint[]): Promise<RenderedReport> {
  const built = reportCharts(points);
  const charts = await Promise.all(built.filter(isChart).map(renderChart));
  const omitted = built.filter((b): b is OmittedChart => !isChart(b));
  return { charts, omitted };
}

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function servingTable(points: readonly RunPoint[]): string {
  const v = servingView(points);
  if (v.points.length === 0) return '';
  const head = SERVING_HEAD.map((h) => `<th>${escape(h)}</th>`).join('');
  const body = servingRows(v).map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`).join('\n');
  return `<section id="serving"><h2>Serving view</h2><p class="note">${escape(DERIVED_NOTE)}</p>\n<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></section>`;
}

/** The HTML report: a heading per chart, its SVG inline, a visible note per omitted chart. */
export function reportHtml(points: readonly RunPoint[], report: RenderedReport): string {
  const runs = [...new Set(points.map((p) => `${p.run_name} (${p.model} on ${p.device})`))].join(', ');
  const sections = [
    ...report.charts.map((c) => `<section id="${c.name}"><h2>${escape(c.title)}</h2><div class="chart" data-chart="${c.name}">${c.svg}</div></section>`),
    ...report.omitted.map((o) => `<section id="${o.name}"><h2>${escape(o.title)}</h2><p class="note omitted">Not drawn: ${escape(o.reason)}.</p></section>`),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gpubench report: ${escape(runs)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.chart { display: inline-block; }
.note { color: #8a4b00; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
</style></head>
<body><h1>gpubench report</h1><p>${escape(runs)}: ${points.length} points</p>
${sections.join('\n')}
${servingTable(points)}
</body></html>
`;
}

/**
 * Writes the report: `x.html` is the whole report in one file; `x.svg` writes one SVG per drawn chart,
 * `x-<chart>.svg` (step-time, throughput, ratio-heatmap, ops, pareto, telemetry). Returns the files.
 */
export async function writePlots(points: readonly RunPoint[], output: string): Promise<string[]> {
  const ext = path.extname(output).toLowerCase();
  if (ext !== '.html' && ext !== '.svg') {
    throw new InvalidArgumentError(`--output: '${output}' is not allowed (allowed: a file name ending in .html or .svg)`, { field: 'output' });
  }
  const report = await renderReport(points);
  mkdirSync(path.dirname(path.resolve(output)), { recursive: true });
  if (ext === '.html') {
    writeFileSync(output, reportHtml(points, report));
    return [output];
  }
  const stem = output.slice(0, -ext.length);
  return report.charts.map((c) => {
    const file = `${stem}-${c.name}.svg`;
    writeFileSync(file, c.svg);
    return file;
  });
}
