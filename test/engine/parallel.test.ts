// Parallel layouts on the CPU engine (in-process ranks over the host communicator): every layout
// gives one rank's logits, within 1e-5 of the row's largest logit (max |sharded - one rank| <=
// 1e-5 * max |one rank|) and the same greedy tokens, on a dense, an MoE (shared expert, sigmoid
// gate, a dense layer) and an MLA model (q LoRA, grouped routing, a dense layer); the protocol
// runs DP groups' own batches; collectives are ops of the profiled pass; bad layouts are one line.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeEngine, NativeGenerateResult, NativeModelSpec, NativeParallel } from '../../lib/bridge/native.js';
import { checkModelLayout, layoutOf } from '../../lib/api/layout.js';
import { normalizeConfig, resolveModel, type ModelSpec } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { ids, openEngine, point, tinySpec } from './helpers.js';

const qwen2MoeConfig = {
  model_type: 'qwen2_moe', vocab_size: 512, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 512, rms_norm_eps: 1e-6,
  num_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 32, shared_expert_intermediate_size: 48,
  mlp_only_layers: [0],
};
const qwen2Moe = toNative(normalizeConfig(qwen2MoeConfig));
const deepseekV3 = toNative(resolveModel('tiny-deepseek-v3'));

const layout = (p: Partial<NativeParallel>): NativeParallel => ({ tp: 1, ep: 1, dp: 1, ...p });
const name = (p: NativeParallel) => `tp ${p.tp} ep ${p.ep} dp ${p.dp}`;
const DENSE_LAYOUTS = [layout({ tp: 2 }), layout({ tp: 4 }), layout({ dp: 2 })];
const MOE_LAYOUTS = [...DENSE_LAYOUTS, layout({ tp: 2, ep: 2 }), layout({ tp: 4, ep: 4 }), layout({ dp: 2, ep: 2 }), layout({ tp: 2, dp: 2, ep: 4 })];

function maxRelDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

async function generate(spec: NativeModelSpec, parallel?: NativeParallel): Promise<NativeGenerateResult> {
  const e = await openEngine({ spec, maxBatch: 4, maxContext: 64, maxTokensPerStep: 64, kvPoolTokens: 512, ...(parallel ? { parallel } : {}) });
  try {
    return await e.generate(ids(12, 1), 4);
  } finally {
    await e.close();
  }
}

describe.each([
  ['dense (llama)', tinySpec, DENSE_LAYOUTS],
  ['MoE (qwen2_moe)', qwen2Moe, MOE_LAYOUTS],
  ['MLA + MoE (deepseek_v3)', deepseekV3, MOE_LAYOUTS],
] as const)('%s: sharded logits equal one rank\'s', (_, spec, layouts) => {
  let alone: NativeGenerateResult;
  beforeAll(async () => { alone = await generate(spec); });

  it.each(layouts.map((p) => [name(p), p] as const))('%s', async (_n, p) => {
    const got = await generate(spec, p);
    expect(got.tokens).toEqual(alone.tokens);
    expect(got.logits).toHaveLength(alone.logits.length);
    got.logits.forEach((row, i) => expect(maxRelDiff(row, alone.logits[i]), `step ${i}`).toBeLessThan(1e-5));
  });
});

describe('MTP drafting (deepseek_v3) sharded', () => {
  it.each([layout({ tp: 2, ep: 2 }), layout({ dp: 2 })].map((p) => [name(p), p] as const))('%s: the drafts and their logits equal one rank\'s', async (_n, p) => {
    const run = async (parallel?: NativeParallel) => {
      const e = await openEngine({ spec: deepseekV3, maxBatch: 2, maxContext: 64, maxTokensPerStep: 64, maxDrafts: 1, ...(parallel ? { parallel } : {}) });
      try {
        return await e.generate(ids(10, 2), 3, false, { mtpDrafts: 1, mtpAccept: 0 });
      } finally {
        await e.close();
      }
    };
    const [alone, got] = [await run(), await run(p)];
    expect(got.tokens).toEqual(alone.tokens);
    expect(got.drafts).toEqual(alone.drafts);
    got.draftLogits.forEach((rows, k) => expect(maxRelDiff(rows[0], alone.draftLogits[k][0]), `drafting ${k}`).toBeLessThan(1e-5));
  });
});

describe('a point under a layout', () => {
  const P = layout({ tp: 2, dp: 2, ep: 2 });
  let sharded: NativeEngine, single: NativeEngine;
  beforeAll(async () => {
    sharded = await openEngine({ spec: qwen2Moe, parallel: P });
    single = await openEngine({ spec: qwen2Moe });
  });
  afterAll(async () => {
    await sharded.close();
    await single.close();
  });

  /** Runs a point of batchSize per DP group, submitting batchSize * dp requests. */
  async function run(e: NativeEngine, opts: ReturnType<typeof point>, requests: number) {
    const done = e.runPoint(opts, () => {});
    for (let i = 0; i < requests; i++) {
      e.submit({ id: i, inputIds: ids(opts.inputLen, i) });
      await new Promise((r) => setImmediate(r));
    }
    return done;
  }

  it('each DP group runs its own batch: request 0 emits what one rank running all of them emits', async () => {
    const opts = point({ batchSize: 2, inputLen: 8, outputLen: 4, profile: 'both' });
    const r = await run(sharded, opts, 2 * P.dp);
    const one = await run(single, { ...opts, batchSize: 2 * P.dp, profile: 'none' }, 2 * P.dp);
    expect(r.firstRequestTokens).toEqual(one.firstRequestTokens);
    expect(r.acceptedTokens).toEqual(Array(3).fill(2 * P.dp));
    expect(r.expertCounts).toEqual(one.expertCounts);
    expect(sharded.info().parallel).toEqual({ ...P, simulate: false });
    expect(sharded.info().weightBytes).toBeLessThan(single.info().weightBytes);
  });

  it('collectives are ops of the profiled pass, by layer, and the trace has a track per rank', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-parallel-'));
    try {
      const tracePrefix = path.join(dir, 'run');
      const r = await run(sharded, point({ batchSize: 1, inputLen: 8, outputLen: 3, profile: 'decode', tracePrefix }), P.dp);
      const ops = new Set(r.profiledDecode.map((o) => `${o.op}@${o.layer}`));
      for (const op of ['all_reduce.o_proj@0', 'all_reduce.mlp@0', 'all_reduce.o_proj@1', 'all_gather.moe@1', 'all_reduce.moe@1', 'reduce_scatter.moe@1']) {
        expect(ops, op).toContain(op);
      }
      expect([...ops].some((o) => o.startsWith('all_gather.moe@0'))).toBe(false);
      const trace = JSON.parse(readFileSync(`${tracePrefix}_decode.trace.json`, 'utf8')) as { traceEvents: { name: string; tid: number; args?: { name?: string } }[] };
      const tracks = trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args?.name);
      expect(tracks).toEqual(expect.arrayContaining(['rank 1 ops (device events)', 'rank 3 ops (device events)']));
      const rank3 = trace.traceEvents.filter((e) => e.tid === 103).map((e) => e.name);
      expect(rank3).toContain('reduce_scatter.moe');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one rank calls no collective', async () => {
    const r = await run(single, point({ batchSize: 1, inputLen: 8, outputLen: 3, profile: 'decode' }), 1);
    expect(r.profiledDecode.filter((o) => /^(all_reduce|all_gather|reduce_scatter)/.test(o.op))).toEqual([]);
  });
});

describe('a simulated layout: rank 0 alone, its collectives moving nothing', () => {
  const P = layout({ tp: 2, dp: 2, ep: 2 });
  let simulated: NativeEngine, sharded: NativeEngine;
  beforeAll(async () => {
    simulated = await openEngine({ spec: qwen2Moe, parallel: { ...P, simulate: true } });
    sharded = await openEngine({ spec: qwen2Moe, parallel: P });
  });
  afterAll(async () => {
    await simulated.close();
    await sharded.close();
  });

  it('holds rank 0\'s shard of the full layout and runs one DP group\'s batch, its collectives still ops at ~0 ms', async () => {
    expect(simulated.info().parallel).toEqual({ ...P, simulate: true });
    expect(simulated.info().weightBytes).toBe(sharded.info().weightBytes);
    // batchSize requests (one DP group's), not batchSize × dp.
    const done = simulated.runPoint(point({ batchSize: 2, inputLen: 8, outputLen: 3, profile: 'decode' }), () => {});
    for (let i = 0; i < 2; i++) {
      simulated.submit({ id: i, inputIds: ids(8, i) });
      await new Promise((r) => setImmediate(r));
    }
    const r = await done;
    expect(r.decodeStepMs).toHaveLength(2);
    expect(r.decodeStepMs.every((ms) => ms > 0)).toBe(true);
    const collectives = r.profiledDecode.filter((o) => /^(all_reduce|all_gather|reduce_scatter)\./.test(o.op));
    expect(new Set(collectives.map((o) => `${o.op}@${o.layer}`))).toEqual(new Set([
      'all_reduce.o_proj@0', 'all_reduce.mlp@0', 'all_reduce.o_proj@1', 'all_gather.moe@1', 'all_reduce.moe@1', 'reduce_scatter.moe@1',
    ]));
    expect(Math.max(...collectives.map((o) => o.ms))).toBeLessThan(0.5);
  });

  it('measures no bus: there is no link', async () => {
    expect((await simulated.measurePeaks()).bus).toBeNull();
  });
});

describe('the bus bandwidth of the layout\'s own communicator', () => {
  it('an all-reduce of 16 MiB over rank 0\'s TP group, busbw = S · 2(n − 1)/n over the median call', async () => {
    const e = await openEngine({ spec: tinySpec, parallel: layout({ tp: 2 }) });
    try {
      const bus = (await e.measurePeaks()).bus;
      expect(bus).not.toBeNull();
      expect(bus!.bytes).toBe(16 * 2 ** 20);
      expect(bus!.ranks).toBe(2);
      expect(bus!.calls.count).toBeGreaterThan(2);
      expect(bus!.calls.minMs).toBeGreaterThan(0);
      expect(bus!.bytesPerS).toBeCloseTo((bus!.bytes * 2 * (1 / 2)) / (bus!.calls.medianMs / 1e3), -3);
    } finally {
      await e.close();
    }
    const one = await openEngine({ spec: tinySpec });
    try {
      expect((await one.measurePeaks()).bus).toBeNull();
    } finally {
      await one.close();
    }
  });
});

describe('lib/api/layout.ts accepts exactly the layouts native opens', () => {
  const moe = (over: Record<string, unknown>) => normalizeConfig({ ...qwen2MoeConfig, ...over });
  const cases: [string, ModelSpec, NativeParallel, boolean][] = [
    // A dense layer splits over tp only, whatever dp (98 is not divisible by tp × dp = 4).
    ['dense layer 98 wide, tp 2 dp 2', moe({ intermediate_size: 98 }), layout({ tp: 2, dp: 2 }), true],
    ['dense layer 98 wide, tp 4', moe({ intermediate_size: 98 }), layout({ tp: 4 }), false],
    // No dense layer: its intermediate_size splits nothing.
    ['every layer MoE, intermediate 98, tp 4', moe({ intermediate_size: 98, mlp_only_layers: [] }), layout({ tp: 4 }), true],
    // The shared expert splits over every rank.
    ['shared expert 42 wide, tp 2', moe({ shared_expert_intermediate_size: 42 }), layout({ tp: 2 }), true],
    ['shared expert 42 wide, tp 2 dp 2', moe({ shared_expert_intermediate_size: 42 }), layout({ tp: 2, dp: 2 }), false],
    ['expert 32 wide over tp 4 dp 2 / ep 2', moe({}), layout({ tp: 4, dp: 2, ep: 2 }), true],
    ['expert 30 wide over tp 2 dp 2 / ep 2', moe({ moe_intermediate_size: 30 }), layout({ tp: 2, dp: 2, ep: 2 }), true],
    ['expert 30 wide over tp 4 / ep 1', moe({ moe_intermediate_size: 30 }), layout({ tp: 4 }), false],
  ];
  it.each(cases)('%s', async (_n, spec, p, accepted) => {
    let ts = true;
    try {
      checkModelLayout(spec, layoutOf(p));
    } catch {
      ts = false;
    }
    const native = await openEngine({ spec: toNative(spec), parallel: p, maxBatch: 2, maxContext: 32, maxTokensPerStep: 32, kvPoolTokens: 128 })
      .then(async (e) => { await e.close(); return true; }, (e: { code: string }) => (expect(e.code).toBe('ERR_INVALID_CONFIG'), false));
    expect([ts, native]).toEqual([accepted, accepted]);
  });
});

describe('layouts the model cannot split', () => {
  it.each([
    [tinySpec, layout({ tp: 3 }), 'ERR_INVALID_CONFIG', /^num_attention_heads 4 is not divisible by tp 3/],
    [tinySpec, layout({ tp: 2, ep: 2 }), 'ERR_INVALID_CONFIG', /^ep 2 needs a model with experts/],
    [qwen2Moe, layout({ tp: 2, ep: 4 }), 'ERR_INVALID_ARGUMENT', /^ep 4 does not divide tp \* dp = 2/],
    [qwen2Moe, layout({ dp: 3, ep: 3 }), 'ERR_INVALID_CONFIG', /^the number of experts 8 is not divisible by ep 3/],
    [tinySpec, layout({ tp: 0 }), 'ERR_INVALID_ARGUMENT', /is not a layout/],
  ] as const)('%#: refused with one line', async (spec, parallel, code, message) => {
    const err = await openEngine({ spec, parallel }).then(() => null, (e: unknown) => e as { code: string; message: string });
    expect(err?.code).toBe(code);
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toContain('\n');
  });

  it.each([
    [{ tp: 1.5 }, /^field 'tp' must be an integer/],
    ['tp 2', /^field 'parallel' must be an object/],
  ])('a malformed layout on the wire (%j) is refused with one line', async (parallel, message) => {
    const err = await openEngine({ parallel: parallel as unknown as NativeParallel }).then(() => null, (e: unknown) => e as { code: string; message: string });
    expect(err?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err?.message).toMatch(message);
  });
});
