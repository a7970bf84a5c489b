// Shared by the engine tests: a tiny dense model and an engine opened on the CPU backend.
import {
  loadAddon, type NativeEngine, type NativeEngineOptions, type NativeModelSpec, type NativePointOptions, type NativeProgress,
} from '../../lib/bridge/native.js';
import { routingToNative } from '../../lib/bridge/wire.js';

export const tinySpec: NativeModelSpec = {
  modelType: 'llama',
  vocabSize: 512,
  hiddenSize: 64,
  intermediateSize: 160,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
  attentionBias: false,
  qkNorm: false,
  maxPositionEmbeddings: 512,
  rope: {
    theta: 10000, type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 4,
    originalMaxPosition: 8192, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 0,
  },
};

export async function openEngine(over: Partial<NativeEngineOptions> = {}): Promise<NativeEngine> {
  const { Engine } = loadAddon();
  const e = new Engine({
    spec: tinySpec, device: 'cpu', seed: 7, kvPoolTokens: 4096, maxBatch: 8,
    maxTokensPerStep: 1024, maxContext: 256, threads: 2, ...over,
  });
  await e.open();
  return e;
}

/** A point's native options; `moeRouting` is the policy's text, parsed as the sweep parses it. */
export function point(over: Partial<Omit<NativePointOptions, 'moeRouting'>> & { moeRouting?: string } = {}): NativePointOptions {
  const { moeRouting, ...rest } = over;
  return {
    batchSize: 2, inputLen: 16, outputLen: 4, mode: 'both', batchTimeoutMs: 5000, useGraphs: true,
    profile: 'none', profileDecodeSteps: 2, runName: 'test', ...rest,
    ...(moeRouting !== undefined ? { moeRouting: routingToNative(moeRouting) } : {}),
  };
}

export function ids(n: number, salt = 0): Int32Array {
  return Int32Array.from({ length: n }, (_, j) => (salt * 131 + j * 17 + 3) % tinySpec.vocabSize);
}

/** Starts a point, then submits its requests one per macrotask, as a client would. */
export async function runWithRequests(
  e: NativeEngine, opts: NativePointOptions, onProgress: (p: NativeProgress) => void = () => {},
) {
  const done = e.runPoint(opts, onProgress);
  for (let i = 0; i < opts.batchSize; i++) {
    e.submit({ id: i, inputIds: ids(opts.inputLen, i) });
    await new Promise((r) => setImmediate(r));
  }
  return done;
}
