// The CPU backend (fp32) against Hugging Face transformers: logits within 1e-4 relative L2 at the
// last prompt position and at every greedy decode step, and identical greedy tokens; DeepSeek's MLA
// with its prefill in both forms (decompressed, absorbed). DeepSeek-V3's MTP module, which
// transformers' model does not run, against the reference in scripts/golden/deepseek.py: its draft
// logits the same way, and identical drafts. One model of each family again sharded over two ranks
// (each loading its blocks of the checkpoint).
import { describe, expect, it } from 'vitest';
import { SUPPORTED_MODEL_TYPES } from '../../lib/model/model-spec.js';
import { listFixtures, prefillForms, relL2, runFixture } from './fixtures.js';

const REQUIRED = ['llama', 'mistral', 'qwen2', 'qwen3', 'mixtral', 'qwen2_moe', 'qwen3_moe', 'deepseek_v2', 'deepseek_v3'];
// Fixtures of model types the normalizer does not accept yet are made ahead of their engine support.
const fixtures = listFixtures().filter((f) => (SUPPORTED_MODEL_TYPES as readonly string[]).includes(f.expected.model_type));

describe('golden fixtures (transformers, float32)', () => {
  it('has a fixture for every supported model type', () => {
    expect(fixtures.map((f) => f.expected.model_type)).toEqual(expect.arrayContaining(REQUIRED));
  });

  for (const f of fixtures) {
    for (const form of prefillForms(f)) {
      it(`${f.name}${form ? ` (${form} prefill)` : ''}: CPU logits match transformers within 1e-4 and greedy tokens are identical`, async () => {
        const got = await runFixture(f, 'cpu', false, undefined, form);
        expect(got.mlaPrefillForm).toBe(form ?? null);
        expect(got.tokens).toEqual(f.expected.tokens);
        expect(got.logits).toHaveLength(f.expected.logits.length);
        got.logits.forEach((row, i) => expect(relL2(row, f.expected.logits[i]), `step ${i}`).toBeLessThan(1e-4));
      });
    }
  }

  const sharded = [['llama', { tp: 2, ep: 1, dp: 1 }], ['qwen2_moe', { tp: 2, ep: 2, dp: 1 }], ['deepseek_v3', { tp: 2, ep: 1, dp: 1 }]] as const;
  for (const [type, parallel] of sharded) {
    it(`${type} at tp ${parallel.tp} ep ${parallel.ep}: CPU logits match transformers within 1e-4 and greedy tokens are identical`, async () => {
      const f = fixtures.find((x) => x.expected.model_type === type)!;
      const got = await runFixture(f, 'cpu', false, undefined, undefined, parallel);
      expect(got.tokens).toEqual(f.expected.tokens);
      got.logits.forEach((row, i) => expect(relL2(row, f.expected.logits[i]), `step ${i}`).toBeLessThan(1e-4));
    });
  }

  for (const f of fixtures.filter((x) => x.expected.mtp)) {
    it(`${f.name}: MTP drafts (K = 1) match the reference within 1e-4, and accepting none keeps the greedy tokens`, async () => {
      const mtp = f.expected.mtp!;
      // Accepting no draft emits exactly the main model's greedy tokens, so each drafting sees the
      // sequence the reference was computed on: after the prefill, then after each decode step.
      // The MTP module's forward over the prompt runs in the engine's default (decompressed) form.
      const got = await runFixture(f, 'cpu', false, { mtpDrafts: 1, mtpAccept: 0 });
      expect(got.tokens).toEqual(f.expected.tokens);
      got.logits.forEach((row, i) => expect(relL2(row, f.expected.logits[i]), `step ${i}`).toBeLessThan(1e-4));
      expect(got.accepted).toEqual(Array(f.expected.steps).fill(0));
      expect(got.drafts.flat()).toEqual(mtp.tokens);
      expect(got.draftLogits).toHaveLength(mtp.logits.length);
      got.draftLogits.forEach((rows, k) => expect(relL2(rows[0], mtp.logits[k]), `drafting ${k}`).toBeLessThan(1e-4));
    });
  }
});
