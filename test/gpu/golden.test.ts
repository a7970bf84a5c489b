// The golden fixtures on the GPU (bf16 weights and activations): logits within 2e-2 relative L2
// of transformers' fp32 logits, identical greedy tokens, eager and with CUDA graphs.
import { describe, expect, it } from 'vitest';
import { listFixtures, relL2, runFixture } from '../golden/fixtures.js';
import { hasGpu } from './helpers.js';

describe.skipIf(!hasGpu)('golden fixtures on CUDA', () => {
  for (const f of listFixtures()) {
    for (const graphs of [false, true]) {
      it(`${f.name}${graphs ? ' (graphs)' : ''}`, async () => {
        const got = await runFixture(f, 'cuda:0', graphs);
        expect(got.tokens).toEqual(f.expected.tokens);
        got.logits.forEach((row, i) => expect(relL2(row, f.expected.logits[i]), `step ${i}`).toBeLessThan(2e-2));
      });
    }
  }
});
