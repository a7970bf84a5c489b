// The markdown table renderer and the JSON result file, on points built from raw timings by the same
// function a sweep uses (buildPointResult).
import { mkdtempSync, readFileSync } from 'node:fs';
import { FAKE_CPU } from './fake-addon.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPointResult, failedPoint, type RunContext } from '../../lib/api/result.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import type { NativePointResult } from '../../lib/bridge/native.js';
import { decodeTable, prefillTable } from '../../lib/report/table.js';
import { toJsonlLine } from '../../lib/report/jsonl.js';
import { formatTablesMarkdown, markdownTable } from '../../lib/views/markdown.js';
import { RESULT_FILE_VERSION, toResultFile, writeResultFile, type RunSummary } from '../../lib/views/json-file.js';

const spec = resolveModel('tiny-llama');
const ctx: RunContext = {
  runName: 'r', spec, device: 'cpu', mode: 'both', seed: 42, peaks: { flopsPerS: 1e12, bytesPerS: 1e11 }, bytesPerElem: 4,
  profileDecodeSteps: 4, routing: 'balanced', mtpDrafts: 0, mtpAccept: 'all',
  info: { device: 'cpu', deviceName: 'Test CPU', dtype: 'f32', weightBytes: 0, kvPoolTokens: 0, kvBytesPerToken: 0, blockSize: 16, weightInitMs: 0, deviceInfo: FAKE_CPU },
    provenance: null,
};

function raw(batch: number, inputLen: number): NativePointResult {
  const s = [1, 1.1, 1.2];
  return {
    waitingMs: 0.5, prefillMs: 8 * batch, decodeStepMs: s, decodeContext: s.map((_, i) => inputLen + i + 1),
    acceptedTokens: s.map(() => batch), firstRequestTokens: [], usedGraphs: false, profiledPrefill: [], profiledDecode: [],
    traceFiles: [], routing: 'balanced', expertCounts: [], telemetry: null, telemetryReason: 'no NVML: CPU device', kernelPaths: {}, mlaPrefillForm: null, mlaDecodeForm: null,
  };
}

const points = [
  buildPointResult(ctx, { batchSize: 1, inputLen: 16, outputLen: 4 }, raw(1, 16)),
  buildPointResult(ctx, { batchSize: 4, inputLen: 16, outputLen: 4 }, raw(4, 16)),
  failedPoint(ctx, { batchSize: 64, inputLen: 16, outputLen: 4 }, [], 'ERR_DOES_NOT_FIT', 'needs 1280 KV tokens | has 64'),
];

/** The cells of a markdown table row, with escaped pipes restored. */
const cells = (line: string) => line.slice(2, -2).split(/ (?<!\\)\| /).map((c) => c.replace(/\\\|/g, '|'));

describe('markdown tables', () => {
  it('holds the same head and rows as the terminal tables', () => {
    const md = formatTablesMarkdown(points);
    const blocks = md.trimEnd().split('\n\n');
    expect(blocks.slice(0, 4)).toEqual(['**Prefill Result**', expect.stringMatching(/^\| Seq Len /), '**Decode Result**', expect.stringMatching(/^\| Seq Len /)]);
    for (const [i, table] of [[1, prefillTable(points)], [3, decodeTable(points)]] as const) {
      const lines = blocks[i]!.split('\n');
      expect(cells(lines[0]!)).toEqual(table.head);
      expect(lines[1]).toMatch(/^\|( -{3}:? \|)+$/);
      expect(lines.slice(2).map(cells)).toEqual(table.rows);
    }
    expect(blocks[4]).toBe('- failed: bs=64 in=16 out=4: ERR_DOES_NOT_FIT: needs 1280 KV tokens \\| has 64');
  });

  it('right-aligns numeric columns only', () => {
    const md = markdownTable({ title: 'T', head: ['Op', 'ms', 'Ratio'], rows: [['matmul.qkv', '1.25', '1.30x'], ['attention', '-', '2.00x']] });
    expect(md).toBe('**T**\n\n| Op | ms | Ratio |\n| --- | ---: | ---: |\n| matmul.qkv | 1.25 | 1.30x |\n| attention | - | 2.00x |');
  });
});

describe('per-op fields of the JSONL', () => {
  it('carry the profiled pass as op names and ms per forward, null where not profiled', () => {
    const profiled = buildPointResult(ctx, { batchSize: 1, inputLen: 16, outputLen: 4 }, {
      ...raw(1, 16),
      profiledDecode: [{ op: 'attention', layer: 0, ms: 0.5 }, { op: 'matmul.qkv', layer: 0, ms: 3 }, { op: 'attention', layer: 1, ms: 0.7 }],
    });
    const rec = JSON.parse(toJsonlLine(profiled));
    // 3 timed decode steps, all profiled (profileDecodeSteps 4): ms per forward = sum / 3.
    expect(rec.decode_op_names).toEqual(['matmul.qkv', 'attention']);
    expect(rec.decode_op_ms[0]).toBeCloseTo(1, 12);
    expect(rec.decode_op_ms[1]).toBeCloseTo(0.4, 12);
    expect(rec.prefill_op_names).toBeNull();
    expect(JSON.parse(toJsonlLine(points[0]!)).decode_op_ms).toBeNull();
  });
});

describe('JSON result file', () => {
  const run: RunSummary = { runName: 'r', model: spec, device: 'cpu', deviceName: 'Test CPU', dtype: 'f32', peaks: ctx.peaks, points };

  it('holds a run header and the points with the JSONL fields', () => {
    const f = toResultFile(run, { commit: 'abc123', model: 'ignored' }, new Date('2026-01-02T03:04:05Z'));
    expect(f.run).toMatchObject({
      format_version: RESULT_FILE_VERSION, run_name: 'r', created_at: '2026-01-02T03:04:05.000Z', device: 'cpu', device_name: 'Test CPU',
      dtype: 'f32', peak_flops_per_s: 1e12, peak_bytes_per_s: 1e11, commit: 'abc123',
      model: { name: 'tiny-llama', model_type: 'llama', num_layers: spec.numLayers },
    });
    expect(f.run.model.params).toBeGreaterThan(1e6);
    expect(f.points).toHaveLength(3);
  });

  it('writes JSON whose points equal the JSONL lines', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-json-')), 'sub', 'r.json');
    writeResultFile(file, run, { host: 'ci' });
    const back = JSON.parse(readFileSync(file, 'utf8'));
    expect(back.run.host).toBe('ci');
    expect(back.points).toEqual(points.map((p) => JSON.parse(toJsonlLine(p))));
  });
});
