// GPU tests run only on a machine with a CUDA build and a GPU (npm run test:gpu).
import { loadAddon, type NativeEngine, type NativeEngineOptions } from '../../lib/native.js';
import { resolveModel, toNative } from '../../lib/model-spec.js';

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

export function prompt(n: number, vocab: number, salt = 1): Int32Array {
  return Int32Array.from({ length: n }, (_, j) => (salt * 7919 + j * 104729) % vocab);
}
