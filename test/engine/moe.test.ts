// MoE models on the CPU engine: each pinned routing policy gives the loads the README's Mixture-of-experts section
// specifies (read back through runPoint's expertCounts), is deterministic for a seed, and never
// leaks into generate(), which routes for real unless given a policy; bad policies and impossible expert settings
// are one-line errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeEngine, NativeModelSpec } from '../../lib/bridge/native.js';
import { normalizeConfig } from '../../lib/model/model-spec.js';
import { routingToNative, toNative } from '../../lib/bridge/wire.js';
import { InvalidArgumentError } from '../../lib/base/errors.js';
import { ids, openEngine, point, runWithRequests } from './helpers.js';

const E = 8, K = 2;
const shapes = {
  vocab_size: 512, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 512, rms_norm_eps: 1e-6,
};
const mixtral = toNative(normalizeConfig({ model_type: 'mixtral', ...shapes, num_local_experts: E, num_experts_per_tok: K }));
// Layer 0 dense, layer 1 MoE with the shared expert: the first MoE layer is layer 1.
const qwen2Moe = toNative(normalizeConfig({
  model_type: 'qwen2_moe', ...shapes, num_experts: E, num_experts_per_tok: K, moe_intermediate_size: 32,
  shared_expert_intermediate_size: 48, mlp_only_layers: [0],
}));

/** The balanced policy's load: slot i of n goes to expert (i + layer) mod E. */
function balanced(n: number, layer: number): number[] {
  const c = Array<number>(E).fill(0);
  for (let i = 0; i < n; i++) c[(i + layer) % E]! += 1;
  return c;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function counts(e: NativeEngine, moeRouting: string, over: Parameters<typeof point>[0] = {}): Promise<number[]> {
  const r = await runWithRequests(e, point({ mode: 'prefill', batchSize: 4, inputLen: 32, outputLen: 1, moeRouting, ...over }));
  expect(r.routing).toBe(moeRouting);
  return r.expertCounts;
}

describe('pinned MoE routing', () => {
  let e: NativeEngine;
  beforeAll(async () => { e = await openEngine({ spec: mixtral, maxBatch: 64 }); });
  afterAll(async () => { await e.close(); });

  it.each([1, 3, 8, 64])('balanced, batch %i: every expert gets the same load (within 1)', async (B) => {
    const r = await runWithRequests(e, point({ mode: 'decode', batchSize: B, inputLen: 4, outputLen: 2, moeRouting: 'balanced' }));
    expect(r.expertCounts).toEqual(balanced(B * K, 0));
    const [lo, hi] = [Math.min(...r.expertCounts), Math.max(...r.expertCounts)];
    expect(hi - lo).toBeLessThanOrEqual((B * K) % E === 0 ? 0 : 1);
  });

  it('balanced is the default; prefill counts every prompt token', async () => {
    const r = await runWithRequests(e, point({ mode: 'prefill', batchSize: 2, inputLen: 16, outputLen: 1 }));
    expect(r.routing).toBe('balanced');
    expect(r.expertCounts).toEqual(Array(E).fill((2 * 16 * K) / E));
  });

  it('balanced offsets by the layer index (the first MoE layer here is layer 1)', async () => {
    const q = await openEngine({ spec: qwen2Moe, maxBatch: 8 });
    try {
      const r = await runWithRequests(q, point({ mode: 'decode', batchSize: 3, inputLen: 4, outputLen: 2, moeRouting: 'balanced' }));
      expect(r.expertCounts).toEqual(balanced(3 * K, 1));
    } finally {
      await q.close();
    }
  });

  it('uniform: distinct experts per token, near-even loads, the same for a seed, others for another seed', async () => {
    const a = await counts(e, 'uniform');
    expect(a).toEqual(await counts(e, 'uniform'));
    expect(sum(a)).toBe(4 * 32 * K);
    for (const c of a) expect(c).toBeLessThanOrEqual(4 * 32); // at most once per token
    for (const c of a) expect(Math.abs(c - (4 * 32 * K) / E)).toBeLessThan(24); // 64 ± 3 sigma
    const other = await openEngine({ spec: mixtral, seed: 8 });
    try {
      expect(await counts(other, 'uniform')).not.toEqual(a);
    } finally {
      await other.close();
    }
  });

  it('zipf:<s>: skewed loads, more with a larger s, the same for a seed', async () => {
    const mean = (4 * 32 * K) / E;
    const z = await counts(e, 'zipf:1.2');
    expect(z).toEqual(await counts(e, 'zipf:1.2'));
    expect(sum(z)).toBe(4 * 32 * K);
    expect(Math.max(...z)).toBeGreaterThan(2 * mean);
    expect(Math.min(...z)).toBeLessThan(mean / 2);
    expect(Math.max(...(await counts(e, 'zipf:3')))).toBeGreaterThan(Math.max(...(await counts(e, 'zipf:0.3'))));
  });

  it("real: the router's own choice, deterministic; batching and pinned points do not change generate()", async () => {
    const r = await counts(e, 'real');
    expect(sum(r)).toBe(4 * 32 * K);
    expect(r).toEqual(await counts(e, 'real'));
    await counts(e, 'zipf:2'); // a pinned point must not leak into generate
    const alone = await e.generate(ids(16, 0), 5);
    const batched = await runWithRequests(e, point({ batchSize: 4, inputLen: 16, outputLen: 6, moeRouting: 'real' }));
    expect(batched.firstRequestTokens).toEqual(alone.tokens);
  });

  it('generate() takes a pinned policy: the same as a pinned point routes, and not what the router picks', async () => {
    const pinned = await e.generate(ids(16, 0), 5, false, { moeRouting: routingToNative('zipf:1.2') });
    expect((await e.generate(ids(16, 0), 5, false, { moeRouting: routingToNative('zipf:1.2') })).logits).toEqual(pinned.logits);
    const batched = await runWithRequests(e, point({ batchSize: 1, inputLen: 16, outputLen: 6, moeRouting: 'zipf:1.2' }));
    expect(batched.firstRequestTokens).toEqual(pinned.tokens);
    const real = await e.generate(ids(16, 0), 5);
    expect(real.logits[0]).not.toEqual(pinned.logits[0]);
    expect(await e.generate(ids(16, 0), 5, false, { moeRouting: routingToNative('real') })).toEqual(real);
  });

  it('generate() refuses a pinned policy with MTP drafts, and a bad policy, in one line', async () => {
    // The addon reads its arguments before it queues the job: a bad one throws, a job's error rejects.
    const err = (run: () => Promise<unknown>) => Promise.resolve().then(run).then(() => null, (x: unknown) => x as Error & { code: string });
    const bad = await err(() => e.generate(ids(4, 0), 1, false, { moeRouting: { kind: 'zipf', s: 0, text: 'zipf:0' } }));
    expect(bad?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(bad?.message).toMatch(/^moe routing 'zipf:0' is not allowed/);
    const mtp = await err(() => e.generate(ids(4, 0), 1, false, { moeRouting: routingToNative('balanced'), mtpDrafts: 1 }));
    expect(mtp?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(mtp?.message).toBe('generate pins MoE routing only without MTP drafts');
  });

  it.each(['', 'Balanced', 'zipf', 'zipf:0', 'zipf:-1', 'zipf:x', 'zipf: 1', 'zipf:inf', 'random'])('text %j is a one-line InvalidArgumentError before the addon', (bad) => {
    const message = `moeRouting: ${JSON.stringify(bad)} is not allowed (allowed: balanced, uniform, zipf:<s> with s > 0, real)`;
    expect(() => routingToNative(bad)).toThrow(InvalidArgumentError);
    expect(() => routingToNative(bad)).toThrow(message);
  });

  it.each([
    { kind: 'zipf', s: 0, text: 'zipf:0' },
    { kind: 'zipf', s: -1, text: 'zipf:-1' },
    { kind: 'random', text: 'random' },
  ])('the addon refuses the policy %j in one line', async (bad) => {
    const opts = { ...point(), moeRouting: bad as never };
    let err: (Error & { code?: string }) | undefined;
    try {
      e.runPoint(opts, () => {}).catch(() => {});
    } catch (x) {
      err = x as Error & { code: string };
    }
    expect(err?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err?.message).toBe(`moe routing '${bad.text}' is not allowed (allowed: balanced, uniform, zipf:<s> with s > 0, real)`);
  });

  it('dense models report no expert counts', async () => {
    const dense = await openEngine();
    try {
      const r = await runWithRequests(dense, point({ moeRouting: 'zipf:1.2' }));
      expect(r.expertCounts).toEqual([]);
    } finally {
      await dense.close();
    }
  });
});

describe('impossible expert settings', () => {
  const open = async (moe: Partial<NonNullable<NativeModelSpec['moe']>>) => {
    const spec: NativeModelSpec = { ...mixtral, moe: { ...mixtral.moe!, ...moe } };
    return openEngine({ spec }).then(async (x) => { await x.close(); return null; }, (x: unknown) => x as Error & { code: string });
  };

  it('top_k larger than the number of experts is a one-line ERR_INVALID_CONFIG', async () => {
    const err = await open({ topK: 9 });
    expect(err?.code).toBe('ERR_INVALID_CONFIG');
    expect(err?.message).toBe('top_k 9 is larger than the number of experts 8');
  });

  it.each([
    [{ topkMethod: 'noaux_tc', nGroup: 3 } as const, /n_group 3 does not divide the number of experts 8/],
    [{ topkMethod: 'group_limited_greedy', nGroup: 4, topkGroup: 5 } as const, /topk_group 5 is not in \[1, n_group 4\]/],
    [{ scoring: 'relu' as 'softmax' }, /scoring_func 'relu' is not supported/],
  ])('%j is refused', async (moe, message) => {
    const err = await open(moe);
    expect(err?.code).toBe('ERR_INVALID_CONFIG');
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toContain('\n');
  });
});
