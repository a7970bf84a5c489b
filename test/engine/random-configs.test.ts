// The random configs of random-configs.ts (the ones the GPU test compares across backends) are
// all accepted by the normalizer and the engine and run on the CPU backend; and the weight nudge
// that gives the GPU test its bf16 noise floor moves the logits a little, not at all or a lot.
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../lib/bridge/native.js';
import { routingToNative, toNative } from '../../lib/bridge/wire.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { describeConfig, randomConfigs, RANDOM_CONFIG_TYPES } from './random-configs.js';

const CONFIGS = randomConfigs(15, 20);

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

describe('random small configs on the CPU', () => {
  it('cover every type, the CUDA general sizes and the fast ones', () => {
    const types = new Set(CONFIGS.map((c) => c.config.model_type));
    expect([...types].sort()).toEqual([...RANDOM_CONFIG_TYPES].sort());
    const headDims = CONFIGS.map((c) => c.config.head_dim).filter((d): d is number => typeof d === 'number');
    expect(headDims.some((d) => ![16, 32, 64, 128].includes(d))).toBe(true);
    expect(headDims.some((d) => [16, 32, 64, 128].includes(d))).toBe(true);
    const ranks = CONFIGS.map((c) => c.config.kv_lora_rank).filter((r): r is number => typeof r === 'number');
    expect(ranks.some((r) => r % 16 !== 0)).toBe(true);
  });

  for (const c of CONFIGS) {
    it(`${c.name}: ${describeConfig(c.config)}`, async () => {
      const spec = resolveModel(c.config);
      const { Engine } = loadAddon();
      const open = async (nudge: number) => {
        const e = new Engine({
          spec: toNative(spec), device: 'cpu', seed: 11, kvPoolTokens: 256, maxBatch: 1, maxTokensPerStep: 64,
          maxContext: 64, threads: 2, nudgeWeights: nudge,
        });
        await e.open();
        return e;
      };
      const ids = Int32Array.from({ length: c.promptLen }, (_, j) => (j * 104729 + 7) % spec.vocabSize);
      const routing = spec.moe ? { moeRouting: routingToNative('zipf:1.2') } : {};
      const plain = await open(0);
      const nudged = await open(1);
      const a = await plain.generate(ids, 2, false, routing);
      const b = await nudged.generate(ids, 2, false, routing);
      await plain.close();
      await nudged.close();
      expect(a.tokens).toHaveLength(3);
      for (const t of a.tokens) expect(t >= 0 && t < spec.vocabSize).toBe(true);
      for (const row of a.logits) expect(row.every(Number.isFinite)).toBe(true);
      expect(a.kernelPaths).toEqual({});  // the CPU has one path
      // One bf16 ulp is 2^-8 relative: the prefill logits move, by far less than their size.
      const floor = relL2(b.logits[0]!, a.logits[0]!);
      expect(floor).toBeGreaterThan(1e-5);
      expect(floor).toBeLessThan(0.2);
    });
  }
});
