// GPU tests run only on a machine with a CUDA build and a GPU (npm run test:gpu).
import { expect } from 'vitest';
import { loadAddon, type NativeEngine, type NativeEngineOptions } from '../../lib/bridge/native.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';

export const addon = loadAddon();
export const hasGpu = addon.backends().includes('cuda') && addon.listDevices().some((d) => d.device.startsWith('cuda'));

export async function open(model: string | object, device: string, over: Partial<NativeEngineOptions> = {}): Promise<NativeEngine> {
  const e = new addon.Engine({
    spec: toNative(resolveModel(model)), device, seed: 11, kvPoolTokens: 8 * 512, maxBatch: 8,
    maxTokensPerStep: 2048, maxContext: 512, ...over,
  });
  await e.open();
  return e;
}

/** ||a - b|| / ||b||. */
export function relL2(a: Float32Array, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * Greedy tokens against a reference's: the same at every step, except that the runs may part at a
 * step where the reference's two best logits are within `nearTie` (5%) of its logits' RMS: bf16 rounding may
 * order such a near-tie either way, and after it the runs see different tokens, so the comparison
 * ends there. Returns the index of that step (the length when they never part).
 */
export function expectSameTokens(got: number[], want: number[], wantLogits: ArrayLike<number>[], nearTie = 0.05): number {
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    const row = Array.from(wantLogits[i]!);
    const rms = Math.sqrt(row.reduce((s, x) => s + x * x, 0) / row.length);
    const [best, second] = [...row].sort((a, b) => b - a);
    expect(best! - second!, `step ${i}: token ${got[i]} for ${want[i]} at a top-2 margin of ${best! - second!} (logit RMS ${rms})`).toBeLessThan(nearTie * rms);
    return i;
  }
  return want.length;
}

/**
 * The GPU's greedy run against a reference (the CPU engine's, or transformers'): logits within `tol`
 * relative L2 and the same tokens (expectSameTokens), up to and including the step where they part.
 */
export function expectSameGreedy(got: { tokens: number[]; logits: Float32Array[] }, want: { tokens: number[]; logits: ArrayLike<number>[] }, tol = 2e-2, nearTie = 0.05): void {
  const parted = expectSameTokens(got.tokens, want.tokens, want.logits, nearTie);
  for (let i = 0; i <= Math.min(parted, want.tokens.length - 1); i++) {
    expect(relL2(got.logits[i]!, want.logits[i]!), `logits at step ${i}`).toBeLessThan(tol);
  }
}

export function prompt(n: number, vocab: number, salt = 1): Int32Array {
  return Int32Array.from({ length: n }, (_, j) => (salt * 7919 + j * 104729) % vocab);
}
