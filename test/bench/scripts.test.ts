// The GPU benchmarks' scripts end to end on the CPU backend with tiny-llama and their scaled-down
// grids: bench/gpu-roofline.mjs over two processes, bench/ops.mjs over every op, bench/levers.mjs
// over its variants. They read ../dist,
// which `npm test` builds first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = mkdtempSync(path.join(tmpdir(), 'gpubench-bench-'));
const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, [path.join(root, 'bench', script), '--device', 'cpu', '--model', 'tiny-llama', ...args], {
    cwd: root, encoding: 'utf8', timeout: 60_000,
  });

interface Row { key: string; ok: boolean; ms: number; floorMs: number }
interface Summary { key: string; processes: number; ms: number; floorMs: number; ratio: number; spread: number }

describe('bench scripts on the CPU', () => {
  it('gpu-roofline --repeat 2: two processes, each point\'s median, ratio and spread, the peaks\' spread', () => {
    const json = path.join(out, 'roofline.json');
    const r = run('gpu-roofline.mjs', ['--repeat', '2', '--out', path.join(out, 'roofline'), '--json', json]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/process 2 of 2/);
    expect(r.stdout).toMatch(/median over 2 processes/);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect(j.processes).toHaveLength(2);
    const keys = ['attention prefill 64', 'decode b1 in64', 'decode b4 in64', 'decode b1 in256', 'prefill b1 in64', 'prefill b1 in128', 'prefill b2 in64'];
    for (const p of j.processes) {
      expect(p.points.map((x: Row) => x.key)).toEqual(keys);
      expect(p.points.every((x: Row) => x.ok && x.ms > 0 && x.floorMs > 0)).toBe(true);
      expect(p.peaks.gemmCalls.count).toBeGreaterThanOrEqual(3);
    }
    const summary: Summary[] = j.summary.points;
    expect(summary.map((s) => s.key)).toEqual(keys);
    for (const s of summary) {
      const ms = j.processes.map((p: { points: Row[] }) => p.points.find((x) => x.key === s.key)!.ms);
      expect(s.processes).toBe(2);
      expect(s.ms).toBeCloseTo((ms[0] + ms[1]) / 2, 9);
      expect(s.ratio).toBeCloseTo(s.ms / s.floorMs, 9);
      expect(s.spread).toBeCloseTo(Math.max(...ms) / Math.min(...ms) - 1, 9);
    }
    const gemm = j.processes.map((p: { peaks: { flopsPerS: number } }) => p.peaks.flopsPerS);
    expect(j.summary.peaks.flopsPerS.spread).toBeCloseTo(Math.max(...gemm) / Math.min(...gemm) - 1, 9);
  });

  it('levers: each switch\'s variant in a process of its own, against the defaults', () => {
    const json = path.join(out, 'levers.json');
    // One round (four processes): each costs a few seconds of the suite's time.
    const r = run('levers.mjs', ['--rounds', '1', '--batch', '1', '--input-len', '16', '--output-len', '2', '--json', json]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect(j.variants.map((v: { env: object }) => v.env)).toEqual([
      {}, { GPUBENCH_PDL: '0' }, { GPUBENCH_GEMM: 'cublaslt' }, { GPUBENCH_GEMM: 'small_m' },
    ]);
    const rows: { batch: number; ms: number; floorMs: number; ratio: number; change: number; rounds: number[] }[] = j.rows;
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row.batch).toBe(1);
      expect(row.rounds).toHaveLength(1);
      expect(row.ms).toBe(row.rounds[0]);
      expect(row.ratio).toBeCloseTo(row.ms / row.floorMs, 9);
      expect(row.change).toBeCloseTo(row.ms / rows[0]!.ms - 1, 9);
    }
    expect(rows[0]!.change).toBe(0);
  });

  it('moe-roofline: every MoE/MLA row (MTP and skewed routing included) against its floor, with per-op breakdowns', () => {
    const json = path.join(out, 'moe.json');
    const r = spawnSync(process.execPath, [path.join(root, 'bench', 'moe-roofline.mjs'), '--device', 'cpu', '--out', path.join(out, 'moe'), '--json', json], {
      cwd: root, encoding: 'utf8', timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    const points: { model: string; key: string; ok: boolean; ms: number; floorMs: number; ratio: number }[] = j.points;
    expect(points.map((p) => `${p.model}: ${p.key}`)).toEqual([
      'tiny-qwen3-moe: decode b1 in32', 'tiny-qwen3-moe: decode b4 in32', 'tiny-qwen3-moe zipf:1.2: decode b4 in32',
      'tiny-qwen3-moe: prefill b2 in32', 'tiny-mixtral (2 layers): decode b1 in32', 'tiny-deepseek-v2: decode b1 in32',
      'tiny-deepseek-v2: prefill b1 in64', 'tiny-deepseek-v3 (2 layers) MTP 1: decode b1 in32',
    ]);
    for (const p of points) {
      expect(p.ok).toBe(true);
      expect(p.ms).toBeGreaterThan(0);
      expect(p.ratio).toBeCloseTo(p.ms / p.floorMs, 9);
    }
    // Balanced routing spreads a step's slots over as many experts as it can; skewed routing piles
    // them on the popular few, so its floor (the weights of the experts the step reads) is lower.
    expect(points[2]!.floorMs).toBeLessThan(points[1]!.floorMs);
    const breakdowns: { model: string; mode: string; ops: { op: string }[] }[] = j.breakdowns;
    expect(breakdowns.map((b) => `${b.model} ${b.mode}`)).toEqual([
      'tiny-qwen3-moe decode', 'tiny-qwen3-moe prefill', 'tiny-mixtral (2 layers) decode', 'tiny-deepseek-v2 decode',
      'tiny-deepseek-v2 prefill', 'tiny-deepseek-v3 (2 layers) MTP 1 decode',
    ]);
    expect(breakdowns[0]!.ops.map((o) => o.op)).toContain('moe_experts');
    expect(breakdowns[3]!.ops.map((o) => o.op)).toContain('mla_attention');
  });

  it('ops: every op timed alone beside its floor', () => {
    const json = path.join(out, 'ops.json');
    const r = run('ops.mjs', ['--calls', '2', '--json', json]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect(new Set(j.ops.map((o: { op: string }) => o.op))).toEqual(
      new Set(['matmul', 'attention_decode', 'attention_prefill', 'rmsnorm', 'rope_kv_write', 'swiglu']));
    for (const o of j.ops) {
      expect(o.calls).toBe(2);
      expect(o.floorMs).toBeCloseTo(Math.max(o.bytes / j.peaks.bytesPerS, o.flops / j.peaks.flopsPerS) * 1e3, 9);
      expect(o.ratio).toBeCloseTo(o.medianMs / o.floorMs, 9);
    }
  });

  it('ops: an unknown --op is one line on stderr and exit code 2', () => {
    const r = run('ops.mjs', ['--op', 'conv']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--op: 'conv' is not one of/);
  });
});
