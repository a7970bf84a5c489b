// DeepSeek-V2/V3 (MLA + MoE) on the CPU engine with dummy weights: the MLA cache holds one row of
// kv_lora + rope per token and layer (the MTP layers' too, when MTP is on), batching does not change
// a request, every mode runs with finite results, and the decompressed prefill (the default) gives
// the absorbed prefill's logits, the results naming the forms that ran.
import { describe, expect, it } from 'vitest';
import { resolveModel } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { ids, openEngine, point, runWithRequests, tinySpec } from './helpers.js';
import { relL2 } from '../golden/fixtures.js';

const v2 = toNative(resolveModel('tiny-deepseek-v2'));
const v3 = toNative(resolveModel('tiny-deepseek-v3'));

describe('MLA engines', () => {
  it('the cache holds [latent | k_pe] per token and layer, MTP layers included only with MTP on', async () => {
    const row = (64 + 16) * 4; // kv_lora + rope, fp32
    const plain = await openEngine({ spec: v3 });
    const mtp = await openEngine({ spec: v3, maxDrafts: 1 });
    try {
      expect(plain.info().kvBytesPerToken).toBe(4 * row);
      expect(mtp.info().kvBytesPerToken).toBe(5 * row);
      expect(mtp.info().weightBytes).toBeGreaterThan(plain.info().weightBytes);
    } finally {
      await plain.close();
      await mtp.close();
    }
  });

  it.each([['deepseek_v2', v2], ['deepseek_v3', v3]] as const)('%s: batched greedy tokens equal the request run alone', async (_, spec) => {
    const e = await openEngine({ spec });
    try {
      const alone = await e.generate(ids(16, 0), 5);
      const r = await runWithRequests(e, point({ batchSize: 4, inputLen: 16, outputLen: 6, moeRouting: 'real' }));
      expect(r.firstRequestTokens).toEqual(alone.tokens);
      for (const row of alone.logits) expect(row.every(Number.isFinite)).toBe(true);
    } finally {
      await e.close();
    }
  });

  it.each(['prefill', 'decode', 'both'] as const)('mode %s runs over fake KV and pinned routing', async (mode) => {
    const e = await openEngine({ spec: v2 });
    try {
      const r = await runWithRequests(e, point({ mode, batchSize: 3, inputLen: 24, outputLen: mode === 'prefill' ? 1 : 3 }));
      expect(r.decodeStepMs).toHaveLength(mode === 'prefill' ? 0 : mode === 'both' ? 2 : 3);
      for (const t of r.firstRequestTokens) expect(t >= 0 && t < v2.vocabSize).toBe(true);
      expect(r.expertCounts.reduce((s, c) => s + c, 0)).toBe((mode === 'prefill' ? 3 * 24 : 3) * 4);
    } finally {
      await e.close();
    }
  });

  it.each([['deepseek_v2 (q direct)', v2], ['deepseek_v3 (q LoRA)', v3]] as const)(
    '%s: the decompressed prefill gives the absorbed prefill\'s logits within 1e-5', async (_, spec) => {
      const decompressed = await openEngine({ spec });
      const absorbed = await openEngine({ spec, mlaPrefill: 'absorbed' });
      try {
        const a = await absorbed.generate(ids(40, 3), 3);
        const d = await decompressed.generate(ids(40, 3), 3);
        expect([a.mlaPrefillForm, d.mlaPrefillForm]).toEqual(['absorbed', 'decompressed']);
        expect(d.tokens).toEqual(a.tokens);
        // The prompt's logits, then the decode steps' (absorbed in both, over the same cache).
        d.logits.forEach((row, i) => expect(relL2(row, a.logits[i]), `row ${i}`).toBeLessThan(1e-5));
      } finally {
        await decompressed.close();
        await absorbed.close();
      }
    });

  it('a point names the forms it ran: the prefill in the chosen one, decode absorbed; other models none', async () => {
    for (const mlaPrefill of ['decompressed', 'absorbed'] as const) {
      const e = await openEngine({ spec: v2, mlaPrefill });
      try {
        const both = await runWithRequests(e, point({ batchSize: 3, inputLen: 12, outputLen: 3 }));
        expect([both.mlaPrefillForm, both.mlaDecodeForm]).toEqual([mlaPrefill, 'absorbed']);
        const decode = await runWithRequests(e, point({ mode: 'decode', batchSize: 2, inputLen: 12, outputLen: 2 }));
        expect([decode.mlaPrefillForm, decode.mlaDecodeForm]).toEqual([null, 'absorbed']);
      } finally {
        await e.close();
      }
    }
    const dense = await openEngine({ spec: tinySpec });
    try {
      const r = await runWithRequests(dense, point());
      expect([r.mlaPrefillForm, r.mlaDecodeForm]).toEqual([null, null]);
    } finally {
      await dense.close();
    }
  });

  it('refuses an mlaPrefill that is no form', async () => {
    await expect(openEngine({ spec: v2, mlaPrefill: 'latent' as 'absorbed' })).rejects.toThrow(
      "mlaPrefill 'latent' is not one of absorbed, decompressed");
  });
});
