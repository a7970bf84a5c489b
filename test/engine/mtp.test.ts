// MTP speculative decoding on the CPU engine (tiny-deepseek-v3, dummy weights): each pinned
// acceptance gives the accepted lengths the README's DeepSeek section specifies (read back through runPoint's
// acceptedTokens and generate's accepted), a verification computes what a plain forward over the
// emitted tokens computes, and settings a model or an engine cannot run are one-line errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeEngine, NativeEngineOptions, NativeMtpOptions } from '../../lib/bridge/native.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import type { MtpAccept } from '../../lib/model/mtp.js';
import { relL2 } from '../golden/fixtures.js';
import { ids, openEngine, point, runWithRequests } from './helpers.js';

const v3 = toNative(resolveModel('tiny-deepseek-v3'));
const K = 3;

function open(over: Partial<NativeEngineOptions> = {}): Promise<NativeEngine> {
  return openEngine({ spec: v3, maxDrafts: K, maxContext: 512, ...over });
}

/**
 * The acceptance the engine must apply (README, DeepSeek): drafts request b of B accepts at step n of
 * K: K ('all'), N, or for { rate: r } ⌊(n+1)·K·r + b/B⌋ − ⌊n·K·r + b/B⌋.
 */
function acceptedDrafts(accept: MtpAccept, drafts: number, step: number, b: number, B: number): number {
  if (accept === 'all') return drafts;
  if (typeof accept === 'number') return accept;
  const offset = b / B;
  return Math.floor((step + 1) * drafts * accept.rate + offset) - Math.floor(step * drafts * accept.rate + offset);
}

/** Tokens emitted over a batch of B at each of `steps` steps: the accepted drafts + 1 per request. */
function emitted(accept: MtpAccept, drafts: number, steps: number, B: number): number[] {
  return Array.from({ length: steps }, (_, n) => {
    let sum = 0;
    for (let b = 0; b < B; b++) sum += acceptedDrafts(accept, drafts, n, b, B) + 1;
    return sum;
  });
}

async function failure(p: Promise<unknown>): Promise<Error & { code: string }> {
  return p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error & { code: string });
}

describe('MTP acceptance', () => {
  let e: NativeEngine;
  beforeAll(async () => { e = await open(); });
  afterAll(async () => { await e.close(); });

  it.each<[MtpAccept, number]>([['all', 4], [0, 1], [2, 3]])('accept %j: every request emits a fixed count each step', async (accept, perStep) => {
    const r = await runWithRequests(e, point({ batchSize: 3, inputLen: 8, outputLen: 5, mtpDrafts: K, mtpAccept: accept }));
    expect(r.acceptedTokens).toEqual(Array(4).fill(3 * perStep));
    // Request 0 got the prefill's token and perStep tokens per step; its context grew as much.
    expect(r.firstRequestTokens).toHaveLength(1 + 4 * perStep);
    expect(r.decodeContext).toEqual([0, 1, 2, 3].map((s) => 9 + s * perStep));
    expect(r.usedGraphs).toBe(false);
  });

  it.each([0, 0.25, 0.5, 0.7, 1])('rate %f: the pattern ⌊(n+1)Kr + b/B⌋ − ⌊nKr + b/B⌋, whose mean is K·r', async (rate) => {
    const B = 5, steps = 8;
    const r = await runWithRequests(e, point({ mode: 'decode', batchSize: B, inputLen: 8, outputLen: steps, mtpDrafts: K, mtpAccept: { rate } }));
    expect(r.acceptedTokens).toEqual(emitted({ rate }, K, steps, B));
    const drafts = r.acceptedTokens.reduce((s, x) => s + x, 0) - B * steps;
    expect(Math.abs(drafts / (B * steps) - K * rate)).toBeLessThanOrEqual(1 / steps);
    for (const t of r.acceptedTokens) expect(Math.abs(t - B * (1 + K * rate))).toBeLessThanOrEqual(1);
  });

  it('generate reports the accepted drafts per step and emits them and one token more', async () => {
    const g = await e.generate(ids(12, 1), 6, false, { mtpDrafts: K, mtpAccept: { rate: 0.4 } });
    const want = Array.from({ length: 6 }, (_, n) => acceptedDrafts({ rate: 0.4 }, K, n, 0, 1));
    expect(g.accepted).toEqual(want);
    expect(g.tokens).toHaveLength(1 + want.reduce((s, a) => s + a + 1, 0));
    expect(g.logits).toHaveLength(g.tokens.length);
    expect(g.drafts).toHaveLength(7);
    for (const d of g.drafts) expect(d).toHaveLength(K);
    expect(g.draftLogits.map((d) => d.length)).toEqual(Array(7).fill(K));
  });

  it("with 'all', each emitted token's verification logits are a plain forward's over the emitted prefix", async () => {
    const prompt = ids(10, 2);
    const g = await e.generate(prompt, 3, false, { mtpDrafts: K, mtpAccept: 'all' });
    expect(g.tokens).toHaveLength(1 + 3 * (K + 1));
    // Each token's logits are those of the position before it, computed over everything emitted so far.
    for (let i = 1; i < g.tokens.length; i++) {
      const prefix = Int32Array.from([...prompt, ...g.tokens.slice(0, i)]);
      const plain = await e.generate(prefix, 0);
      expect(relL2(g.logits[i]!, plain.logits[0]!), `token ${i}`).toBeLessThan(1e-5);
    }
    // The drafts are what was verified: accepting all, the emitted tokens after the first are the drafts.
    expect(g.tokens.slice(1, 1 + K)).toEqual(g.drafts[0]);
  });

  it('accepting none emits the plain greedy tokens', async () => {
    const plain = await e.generate(ids(12, 3), 5);
    const mtp = await e.generate(ids(12, 3), 5, false, { mtpDrafts: K, mtpAccept: 0 });
    expect(mtp.tokens).toEqual(plain.tokens);
    mtp.logits.forEach((row, i) => expect(relL2(row, plain.logits[i]!)).toBeLessThan(1e-5));
  });

  it('batching does not change a request (real routing, a fixed acceptance)', async () => {
    const mtp: NativeMtpOptions = { mtpDrafts: 2, mtpAccept: 1 };
    const alone = await e.generate(ids(16, 0), 4, false, mtp);
    const r = await runWithRequests(e, point({ batchSize: 3, inputLen: 16, outputLen: 5, moeRouting: 'real', ...mtp }));
    expect(r.firstRequestTokens).toEqual(alone.tokens);
  });

  it('profiles the verification and the MTP forwards of a step', async () => {
    const r = await runWithRequests(e, point({ batchSize: 2, inputLen: 8, outputLen: 3, profile: 'decode', profileDecodeSteps: 1, mtpDrafts: 2 }));
    const ops = new Set(r.profiledDecode.map((o) => `${o.op}@${o.layer}`));
    for (const op of ['mla_attention@0', 'matmul_heads.eh_proj@4', 'mla_attention@4', 'moe_experts@4', 'matmul.lm_head@-1']) {
      expect(ops.has(op), op).toBe(true);
    }
    // One verification and two MTP forwards: the LM head runs three times.
    expect(r.profiledDecode.filter((o) => o.op === 'matmul.lm_head')).toHaveLength(3);
  });
});

describe('impossible MTP settings', () => {
  let e: NativeEngine;
  beforeAll(async () => { e = await open({ maxDrafts: 2 }); });
  afterAll(async () => { await e.close(); });

  it.each<[Partial<NativeMtpOptions>, string]>([
    [{ mtpDrafts: 2, mtpAccept: 3 }, 'mtp accept 3 is not allowed (allowed: 0..2, the drafts per step)'],
    [{ mtpDrafts: 2, mtpAccept: -1 }, 'mtp accept -1 is not allowed (allowed: 0..2, the drafts per step)'],
    [{ mtpDrafts: 1, mtpAccept: { rate: 1.5 } }, 'mtp accept rate 1.5 is not allowed (allowed: 0..1)'],
    [{ mtpDrafts: 3 }, "mtp drafts 3 exceeds the engine's maxDrafts 2"],
  ])('%j is a one-line ERR_INVALID_ARGUMENT', async (mtp, message) => {
    // No requests are submitted: the point is refused before it waits for its batch.
    const err = await failure(e.runPoint(point(mtp), () => {}));
    expect(err.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err.message).toBe(message);
    expect((await failure(e.generate(ids(4), 1, false, mtp))).message).toBe(message);
  });

  it('MTP on a model without MTP layers is a one-line error, at open and per point', async () => {
    const v2 = toNative(resolveModel('tiny-deepseek-v2'));
    const opening = await failure(openEngine({ spec: v2, maxDrafts: 1 }));
    expect(opening.code).toBe('ERR_INVALID_ARGUMENT');
    expect(opening.message).toBe("MTP needs a model with MTP layers; model_type 'deepseek_v2' has num_nextn_predict_layers 0");
    const dense = await openEngine();
    try {
      const err = await failure(dense.runPoint(point({ mtpDrafts: 1 }), () => {}));
      expect(err.message).toBe("MTP needs a model with MTP layers; model_type 'llama' has num_nextn_predict_layers 0");
    } finally {
      await dense.close();
    }
  });
});
