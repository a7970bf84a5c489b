// Engine: one native engine (weights made once, one KV pool) behind a typed, promise-based API. Every
// error the addon throws leaves here as a GpubenchError subclass (fromNative), so callers can branch
// on `code` whatever the layer that failed.
import type {
  NativeAddon,
  NativeEngine,
  NativeEngineInfo,
  NativeGenerateResult,
  NativeGemmAlgo,
  NativeGenerateOptions,
  NativeOpBenchCase,
  NativeOpTiming,
  NativeParallel,
  NativePeaks,
  NativePointOptions,
  NativePointResult,
  NativeProgress,
} from './native.js';
import { CallbackError, InvalidArgumentError, fromNative } from '../base/errors.js';
import { resolveModel, type ModelSpec } from '../model/model-spec.js';
import type { MlaForm } from '../model/mla-spec.js';
import { routingToNative, toNative } from './wire.js';
import { getAddon, resolveDevice } from './device.js';

/** generate()'s options: as the addon's, with the MoE routing policy as its text ('zipf:1.2'). */
export type GenerateOptions = Omit<NativeGenerateOptions, 'moeRouting'> & { moeRouting?: string };

/** Tokens per KV block: passed to the addon explicitly so the slack computed here matches it. */
export const DEFAULT_BLOCK_SIZE = 16;

export interface EngineOpenOptions {
  /** Preset name, config.json path or object, or a ModelSpec. */
  model: string | object;
  /** 'auto' (default), 'cpu', 'cuda' or 'cuda:N'. */
  device?: string;
  /** Seed of the dummy weights. */
  seed?: number;
  layers?: number;
  weightsPath?: string;
  /** Largest batch the engine must run. */
  maxBatch: number;
  /** Largest context (input + output) of any request. */
  maxContext: number;
  /** Largest tokens in one forward; default maxBatch × maxContext. */
  maxTokensPerStep?: number;
  /** KV pool capacity; default maxBatch × (maxContext + one block of slack per request). */
  kvPoolTokens?: number;
  blockSize?: number;
  /** Most MTP draft tokens per step any point or generate() will ask for (0, the default: MTP off). */
  maxDrafts?: number;
  /** CPU worker threads (0: all cores), over all ranks. */
  threads?: number;
  /** The parallel layout (NativeParallel); each part defaults to 1. */
  parallel?: Partial<NativeParallel>;
  /** MLA models: the form of prefill steps (default 'decompressed'; docs/design.md). */
  mlaPrefill?: MlaForm;
  addon?: NativeAddon;
}

/** A model and a device already resolved, with the addon that runs them. */
export interface ResolvedTarget {
  spec: ModelSpec;
  /** 'cpu' or 'cuda:N'. */
  device: string;
  addon: NativeAddon;
}

/** What open() reads besides the model and the device: the engine's sizes, seed, weights, threads. */
export type EngineSizing = Omit<EngineOpenOptions, 'model' | 'device' | 'layers' | 'addon'>;

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new InvalidArgumentError(`${name}: ${JSON.stringify(v) ?? String(v)} is not allowed (allowed: a positive integer)`, {
      field: name,
      allowed: 'a positive integer',
    });
  }
  return v;
}

export class Engine {
  readonly spec: ModelSpec;
  /** The resolved device ('cpu' or 'cuda:N'). */
  readonly device: string;
  private readonly native: NativeEngine;
  private readonly engineInfo: NativeEngineInfo;
  private closed = false;
  private nextRequestId = 0;
  /** The job the engine's thread runs now: a second one would reset the first's batch and cancel flag. */
  private running: string | undefined;

  private constructor(native: NativeEngine, spec: ModelSpec, device: string, info: NativeEngineInfo) {
    this.native = native;
    this.spec = spec;
    this.device = device;
    this.engineInfo = info;
  }

  /**
   * Makes (dummy) or loads the weights and allocates the KV pool, on the engine's own thread (the
   * event loop stays free while an 8B model's weights are made). The addon may give the KV pool
   * fewer tokens than asked, to fit device memory: info().kvPoolTokens says what it got.
   */
  static async open(opts: EngineOpenOptions): Promise<Engine> {
    const spec = resolveModel(opts.model, opts.layers === undefined ? {} : { layers: opts.layers });
    const addon = getAddon(opts.addon);
    return Engine.openResolved({ spec, device: resolveDevice(addon, opts.device ?? 'auto'), addon }, opts);
  }

  /**
   * As open(), for a model and device already resolved (the sweep resolves them once and sizes the
   * engine from the spec): `target.device` is 'cpu' or 'cuda:N'; model, device, layers and addon of
   * `opts` are not read.
   */
  static async openResolved(target: ResolvedTarget, opts: EngineSizing): Promise<Engine> {
    const { spec, device, addon } = target;
    const maxBatch = positiveInt('maxBatch', opts.maxBatch);
    const maxContext = positiveInt('maxContext', opts.maxContext);
    const blockSize = positiveInt('blockSize', opts.blockSize ?? DEFAULT_BLOCK_SIZE);
    const maxTokensPerStep = positiveInt('maxTokensPerStep', opts.maxTokensPerStep ?? maxBatch * maxContext);
    // A request's context is rounded up to whole blocks: one block of slack per request covers it.
    const kvPoolTokens = positiveInt('kvPoolTokens', opts.kvPoolTokens ?? maxBatch * (maxContext + blockSize));
    let native: NativeEngine;
    try {
      native = new addon.Engine({
        spec: toNative(spec),
        device,
        seed: opts.seed ?? 42,
        ...(opts.weightsPath !== undefined ? { weightsPath: opts.weightsPath } : {}),
        kvPoolTokens,
        maxBatch,
        maxTokensPerStep,
        maxContext,
        blockSize,
        ...(opts.maxDrafts !== undefined ? { maxDrafts: opts.maxDrafts } : {}),
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        parallel: {
          tp: opts.parallel?.tp ?? 1, ep: opts.parallel?.ep ?? 1, dp: opts.parallel?.dp ?? 1, simulate: opts.parallel?.simulate ?? false,
          ...(opts.parallel?.process ? { process: opts.parallel.process } : {}),
        },
        ...(opts.mlaPrefill !== undefined ? { mlaPrefill: opts.mlaPrefill } : {}),
      });
    } catch (e) {
      throw fromNative(e);
    }
    let info: NativeEngineInfo;
    try {
      info = await native.open();
    } catch (e) {
      // Stop the engine's thread; the open error is the one worth reporting.
      await native.close().catch(() => {});
      throw fromNative(e);
    }
    return new Engine(native, spec, device, info);
  }

  private check(): void {
    if (this.closed) throw new InvalidArgumentError('engine: already closed (allowed: an open engine)', { field: 'engine' });
  }

  /** Runs one job of the engine's thread, refusing a second while one runs. */
  private async exclusive<T>(job: string, run: () => Promise<T>): Promise<T> {
    this.check();
    if (this.running !== undefined) {
      throw new InvalidArgumentError(
        `engine: ${job} called while ${this.running} runs (allowed: one runPoint, generate or measurePeaks at a time per engine; await it first)`,
        { field: 'engine', allowed: 'one job at a time per engine' },
      );
    }
    this.running = job;
    try {
      return await run();
    } finally {
      this.running = undefined;
    }
  }

  /**
   * Runs one grid point: the native scheduler waits for `opts.batchSize` submitted requests, then
   * runs the warm-up, timed and profiled passes. Submit the requests after calling this.
   */
  async runPoint(opts: NativePointOptions, onProgress: (p: NativeProgress) => void = () => {}): Promise<NativePointResult> {
    return this.exclusive('runPoint', async () => {
      // A throw inside the addon's progress call would be swallowed (or, with Node's strict
      // policy, crash the process): catch it here, cancel the point, and reject with it.
      let thrown: CallbackError | undefined;
      const guarded = (p: NativeProgress) => {
        if (thrown) return;
        try {
          onProgress(p);
        } catch (e) {
          thrown = new CallbackError('onProgress', e);
          this.native.cancel();
        }
      };
      let result: NativePointResult;
      try {
        result = await this.native.runPoint(opts, guarded);
      } catch (e) {
        throw thrown ?? fromNative(e);
      }
      // Progress events reach JS before the job settles, so a throw is known by now.
      if (thrown) throw thrown;
      return result;
    });
  }

  /** Queues one request (its prompt) for the scheduler; returns the request id. */
  submit(inputIds: Int32Array): number {
    this.check();
    const id = this.nextRequestId++;
    try {
      this.native.submit({ id, inputIds });
    } catch (e) {
      throw fromNative(e);
    }
    return id;
  }

  /**
   * Prefills `inputIds` as one request, then runs `steps` greedy decode steps, returning the greedy
   * tokens and the fp32 logits of the last prompt position and of every decode step ((steps + 1) ×
   * vocab). The golden tests compare these logits with transformers'; it is also the way to check a
   * checkpoint loaded with weightsPath. Needs maxContext ≥ inputIds.length + steps. With useGraphs
   * the decode steps replay CUDA graphs (ignored where the backend has none).
   *
   * MoE layers route for real unless options.moeRouting names a pinned policy ('balanced',
   * 'uniform', 'zipf:<s>'; not with MTP), which makes two backends' runs comparable when a router
   * score sits within rounding of another.
   *
   * With options.mtpDrafts = K > 0 (an engine opened with maxDrafts ≥ K), the MTP layer drafts K
   * tokens after the prefill and after each step, and each of the `steps` steps verifies the last
   * token and its drafts in one forward, accepts drafts as options.mtpAccept pins, and emits them and the main
   * model's token after them: `logits` has each emitted token's row of its verification, `drafts`
   * and `draftLogits` each drafting's tokens and logits, `accepted` the drafts accepted per step.
   * mtpAccept 0 emits exactly the plain greedy tokens (the MTP golden test's setting); the drafts
   * then are the MTP module's predictions of the token after each.
   */
  async generate(inputIds: Int32Array, steps: number, useGraphs = false, options?: GenerateOptions): Promise<NativeGenerateResult> {
    this.check();
    if (!(inputIds instanceof Int32Array) || inputIds.length === 0) {
      throw new InvalidArgumentError('inputIds: expected a non-empty Int32Array (allowed: token ids in [0, vocab))', { field: 'inputIds' });
    }
    for (const id of inputIds) {
      if (id < 0 || id >= this.spec.vocabSize) {
        throw new InvalidArgumentError(`inputIds: token id ${id} is out of range (allowed: 0..${this.spec.vocabSize - 1})`, {
          field: 'inputIds',
        });
      }
    }
    if (!Number.isInteger(steps) || steps < 0) {
      throw new InvalidArgumentError(`steps: ${steps} is not allowed (allowed: a non-negative integer)`, { field: 'steps' });
    }
    const { moeRouting, ...mtp } = options ?? {};
    const native = options && { ...mtp, ...(moeRouting !== undefined ? { moeRouting: routingToNative(moeRouting) } : {}) };
    return this.exclusive('generate', async () => {
      try {
        return await this.native.generate(inputIds, steps, useGraphs, native);
      } catch (e) {
        throw fromNative(e);
      }
    });
  }

  /** The device's peaks: a large copy (bytes/s) and a large GEMM in the backend's dtype (FLOP/s). */
  async measurePeaks(): Promise<NativePeaks> {
    return this.exclusive('measurePeaks', async () => {
      try {
        return await this.native.measurePeaks();
      } catch (e) {
        throw fromNative(e);
      }
    });
  }

  /** One op timed alone on this engine's backend, with the model's head counts and sizes. */
  async benchOp(c: NativeOpBenchCase): Promise<NativeOpTiming> {
    this.check();
    try {
      return await this.native.benchOp(c);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The GEMM kernel the backend chose for every shape it has run (empty on the CPU). */
  async gemmAlgos(): Promise<NativeGemmAlgo[]> {
    this.check();
    try {
      return await this.native.gemmAlgos();
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** What the engine got: device, dtype, weight bytes, KV pool tokens (possibly capped), block size. */
  info(): NativeEngineInfo {
    this.check();
    return { ...this.engineInfo };
  }

  /** Stops the running job between steps; it rejects with AbortError. */
  cancel(): void {
    if (this.closed) return;
    try {
      this.native.cancel();
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Frees the weights and the KV pool. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.native.close();
    } catch (e) {
      throw fromNative(e);
    }
  }
}
