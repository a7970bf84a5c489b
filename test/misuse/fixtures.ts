// Shared by the misuse tests: a one-layer tiny llama on the CPU, the same spec and options in the
// shape the raw addon takes (for workers and child processes, which load the addon themselves).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../lib/bridge/engine.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import type { NativeEngineOptions, NativePointOptions } from '../../lib/bridge/native.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const model = resolveModel('tiny-llama', { layers: 1 });

export const nativeOptions: NativeEngineOptions = {
  spec: toNative(model), device: 'cpu', seed: 7, kvPoolTokens: 1024, maxBatch: 2, maxTokensPerStep: 256, maxContext: 64,
  blockSize: 16, threads: 1,
};

export function point(over: Partial<NativePointOptions> = {}): NativePointOptions {
  return {
    batchSize: 2, inputLen: 8, outputLen: 3, mode: 'both', batchTimeoutMs: 30_000, useGraphs: false,
    profile: 'none', profileDecodeSteps: 0, runName: 'misuse', ...over,
  };
}

export function openEngine(): Promise<Engine> {
  return Engine.open({ model, device: 'cpu', seed: 7, maxBatch: 2, maxContext: 64, threads: 1 });
}

export const prompt = (n: number, salt = 0) => Int32Array.from({ length: n }, (_, j) => (salt * 131 + j * 17 + 3) % model.vocabSize);

/** Starts a point and submits its batch one request per macrotask, as bench.ts does. */
export async function runFullPoint(engine: Engine, opts: NativePointOptions, onProgress?: Parameters<Engine['runPoint']>[1]) {
  const job = engine.runPoint(opts, onProgress);
  for (let i = 0; i < opts.batchSize; i++) {
    engine.submit(prompt(opts.inputLen, i));
    await new Promise((r) => setImmediate(r));
  }
  return job;
}
