// The golden fixtures on the GPU (bf16 weights and activations): logits within 2e-2 relative L2
// of transformers' fp32 logits, identical greedy tokens, eager and with CUDA graphs.
import { describe, expect, it } from 'vitest';
import { listFixtures, relL2, runFixture } from '../golden/fixtures.js';
import { hasGpu } from './helpers.js';

// The CUDA backend implements the dense ops; MoE and MLA models run on the CPU backend only so far.
const CUDA_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3'];

describe.skipIf(!hasGpu)('golden fixtures on CUDA', () => {
  for (const f of listFixtures().filter((x) => CUDA_MODEL_TYPES.includes(x.expected.model_type))) {
    for (const graphs of [false, true]) {
      it(`${f.name}${graphs ? ' (graphs)' : ''}`, async () => {
        const got = await runFixture(f, 'cuda:0', graphs);
        expect(got.tokens).toEqual(f.expected.tokens);
        got.logits.forEach((row, i) => expect(relL2(row, f.expected.logits[i]), `step ${i}`).toBeLessThan(2e-2));
      });
    }
  }
});
