// Every valid config runs on every backend: the CUDA engine against the CPU engine (fp32) on the
// seeded random small configs of test/engine/random-configs.ts (head_dim 2..128 and 100, any GQA
// ratio, odd widths, expert counts, MLA ranks such as kv_lora_rank 24), eager and with CUDA graphs,
// MoE with pinned routing (as engine.test.ts: a router score within rounding of another must not
// pick another expert).
//
// The error is judged against what bf16 itself costs on that config, not a fixed number: the CPU
// engine runs the same model a second time with every weight moved one bf16 ulp (nudgeWeights,
// a seeded sign per element), and the relative L2 distance of those logits to the unmoved ones is
// the config's noise floor. The CUDA backend holds the same bf16 weights and loses precision only
// by rounding activations to bf16 (at most half an ulp, each time), so its logits must be within
// FLOOR_FACTOR times that floor; a wrong kernel (a bad index, a missed row) is off by the logits'
// own size, orders of magnitude above. Greedy tokens must match but at a near-tie of the CPU's
// top two logits (expectSameGreedy's rule), after which the runs part and the comparison stops.
import { describe, expect, it } from 'vitest';
import type { NativeGenerateResult } from '../../lib/bridge/native.js';
import { routingToNative } from '../../lib/bridge/wire.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { describeConfig, randomConfigs } from '../engine/random-configs.js';
import { expectSameGreedy, hasGpu, open, relL2 } from './helpers.js';

const CONFIGS = randomConfigs(15, 20);
const FLOOR_FACTOR = 3;
const FAST_HEAD_DIMS = [16, 32, 64, 128];

/** Steps whose logits came from the same tokens in both runs: up to and including the first whose greedy token differs. */
function sameContextSteps(a: NativeGenerateResult, b: NativeGenerateResult): number {
  const n = Math.min(a.tokens.length, b.tokens.length);
  for (let i = 0; i < n; i++) if (a.tokens[i] !== b.tokens[i]) return i + 1;
  return n;
}

describe.skipIf(!hasGpu)('CUDA engine vs CPU engine on random configs', () => {
  for (const c of CONFIGS) {
    it(`${c.name}: ${describeConfig(c.config)}`, async () => {
      const spec = resolveModel(c.config);
      const ids = Int32Array.from({ length: c.promptLen }, (_, j) => (j * 104729 + 7) % spec.vocabSize);
      const opts = spec.moe ? { moeRouting: routingToNative('zipf:1.2') } : {};
      const cpu = await open(c.config, 'cpu');
      const want = await cpu.generate(ids, c.steps, false, opts);
      await cpu.close();
      const nudged = await open(c.config, 'cpu', { nudgeWeights: 1 });
      const noisy = await nudged.generate(ids, c.steps, false, opts);
      await nudged.close();
      let floor = 0;
      for (let i = 0; i < sameContextSteps(noisy, want); i++) floor = Math.max(floor, relL2(noisy.logits[i]!, want.logits[i]!));

      const gpu = await open(c.config, 'cuda:0');
      for (const graphs of [false, true]) {
        const got = await gpu.generate(ids, c.steps, graphs, opts);
        const steps = sameContextSteps(got, want);
        const errs = Array.from({ length: steps }, (_, i) => relL2(got.logits[i]!, want.logits[i]!));
        const worst = Math.max(...errs);
        const paths = Object.entries(got.kernelPaths).map(([op, p]) => `${op}:${p}`).join(' ');
        console.log(`${c.name} ${graphs ? 'graphs' : 'eager '}: worst rel L2 ${worst.toExponential(2)}, bf16 floor ` +
          `${floor.toExponential(2)}, ratio ${(worst / floor).toFixed(2)} over ${steps} steps; ${paths}`);
        errs.forEach((e, i) => expect(e, `${graphs ? 'graphs' : 'eager'} step ${i}: rel L2 ${e} vs floor ${floor}`)
          .toBeLessThan(FLOOR_FACTOR * floor));
        expectSameGreedy(got, want, Infinity);
        // The path report names the path the shape must take.
        if (spec.mla) {
          const L = spec.mla.kvLoraRank, R = spec.mla.qkRopeHeadDim;
          if (L % 16 !== 0 || R % 8 !== 0) expect(got.kernelPaths.mla_attention).toBe('general');
          else expect(got.kernelPaths.mla_attention).toBeDefined();
        } else {
          expect(got.kernelPaths.attention).toBe(FAST_HEAD_DIMS.includes(spec.headDim) ? 'fast' : 'general');
        }
        // (Where first_k_dense_replace leaves no MoE layer, no expert op runs and none is reported.)
        if (spec.moe?.layerIsMoe.some(Boolean) && (spec.hiddenSize % 8 !== 0 || spec.moe.expertIntermediateSize % 8 !== 0))
          expect(got.kernelPaths.moe_experts).toBe('general');
      }
      await gpu.close();
    });
  }
});
