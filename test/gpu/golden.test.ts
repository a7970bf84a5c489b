// The golden fixtures on the GPU (bf16 weights and activations), every model type, routing for
// real: logits within 2e-2 relative L2 of transformers' fp32 logits and the same greedy tokens
// (up to a near-tie, see expectSameGreedy), eager and with CUDA graphs; MLA's prefill in both forms.
import { describe, it } from 'vitest';
import { listFixtures, prefillForms, runFixture } from '../golden/fixtures.js';
import { expectSameGreedy, hasGpu } from './helpers.js';

describe.skipIf(!hasGpu)('golden fixtures on CUDA', () => {
  for (const f of listFixtures()) {
    for (const graphs of [false, true]) {
      for (const form of prefillForms(f)) {
        it(`${f.name}${graphs ? ' (graphs)' : ''}${form ? ` (${form} prefill)` : ''}`, async () => {
          const got = await runFixture(f, 'cuda:0', graphs, undefined, form);
          expectSameGreedy(got, f.expected);
        });
      }
    }
  }
});
