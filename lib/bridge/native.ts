// The contract between the TypeScript library and the Node-API addon (native/addon/).
// Everything here is plain data; bridge/engine.ts wraps it in a typed API for lib/api/.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ModelSpec } from '../model/model-spec.js';
import type { RopeSpec } from '../model/rope.js';
import type { MoeSpec } from '../model/moe-spec.js';
import type { MlaSpec } from '../model/mla-spec.js';
import type { MtpAccept } from '../model/mtp.js';
import type { MoeRouting } from '../model/moe-routing.js';

/**
 * The spec as the addon reads it (camelCase of native/core/spec.h): the model's plain-data spec
 * (lib/model/) less its name; bridge/wire.ts converts one to the other.
 */
export type NativeRopeSpec = RopeSpec;
export type NativeMoeSpec = MoeSpec;
export type NativeMlaSpec = MlaSpec;
export type NativeModelSpec = Omit<ModelSpec, 'name' | 'modelType'> & { modelType: string };

export interface NativeEngineOptions {
  spec: NativeModelSpec;
  /** 'cpu' or 'cuda:N'. */
  device: string;
  seed: number;
  /** A .safetensors file or a folder of them (Hugging Face names); dummy weights when absent. */
  weightsPath?: string;
  /**
   * KV pool capacity in tokens (rounded up to whole blocks). The engine caps it to what fits in
   * device memory after weights and activations; info().kvPoolTokens tells what it got.
   */
  kvPoolTokens: number;
  /** Largest batch and largest tokens in one forward the engine must hold activations for. */
  maxBatch: number;
  maxTokensPerStep: number;
  /** Largest context (input + output) of any request. */
  maxContext: number;
  blockSize?: number;
  /**
   * Most MTP draft tokens per step any point or generate() asks for (0 or absent: MTP off, and the
   * model's MTP layers are not held).
   */
  maxDrafts?: number;
  /** CPU worker threads (0: all cores). */
  threads?: number;
}

export type Mode = 'prefill' | 'decode' | 'both';

export type { MtpAccept };

/** MTP speculative decoding of a point or of generate(). */
export interface NativeMtpOptions {
  /** Draft tokens per step (0: off). Needs a model with MTP layers and an engine with maxDrafts ≥ it. */
  mtpDrafts?: number;
  /** Default 'all'. */
  mtpAccept?: MtpAccept;
}
/**
 * A MoE routing policy as the addon takes it: parsed (lib/model/moe-routing.ts), with the option's
 * text, which the addon only echoes (results, traces).
 */
export type NativeMoeRouting = MoeRouting & { text: string };

/** generate()'s options: MTP, and the MoE routing (default real; a pinned policy, not with MTP). */
export interface NativeGenerateOptions extends NativeMtpOptions {
  moeRouting?: NativeMoeRouting;
}
export type ProfileWhat = 'none' | 'prefill' | 'decode' | 'both';

export interface NativePointOptions extends NativeMtpOptions {
  batchSize: number;
  inputLen: number;
  outputLen: number;
  mode: Mode;
  /** How long the scheduler waits for a full batch. */
  batchTimeoutMs: number;
  /** Decode steps replay CUDA graphs (ignored where the backend has none). */
  useGraphs: boolean;
  profile: ProfileWhat;
  /** Decode steps covered by the profiled pass. */
  profileDecodeSteps: number;
  /** Where the profiled pass writes its Chrome traces: `${tracePrefix}_prefill.trace.json`, `_decode`. */
  tracePrefix?: string;
  runName: string;
  /** MoE routing policy (default balanced); dense models ignore it. */
  moeRouting?: NativeMoeRouting;
}

export interface NativeOpTime {
  op: string;
  layer: number;
  ms: number;
}

export interface NativePointResult {
  waitingMs: number;
  /** null in decode mode. */
  prefillMs: number | null;
  /** One entry per timed decode step (empty in prefill mode). */
  decodeStepMs: number[];
  /** Context (tokens attended) of each decode step's first row, the mean over the batch. */
  decodeContext: number[];
  /**
   * Tokens each timed decode step emitted over the batch: batchSize without MTP, with MTP the
   * accepted drafts + 1 of every request.
   */
  acceptedTokens: number[];
  /** Greedy tokens of request 0, one per step. */
  firstRequestTokens: number[];
  usedGraphs: boolean;
  /** Per-op device times of the profiled pass (empty when profile is 'none'). */
  profiledPrefill: NativeOpTime[];
  profiledDecode: NativeOpTime[];
  traceFiles: string[];
  /** The routing policy the point ran with. */
  routing: string;
  /**
   * MoE: tokens per expert at the first MoE layer in the first timed forward (the prefill in
   * prefill mode, else the first decode step); empty for dense models.
   */
  expertCounts: number[];
  /** Null where the device has none: then telemetryReason says why. */
  telemetry: NativeTelemetry | null;
  telemetryReason: string | null;
}

/** One telemetry reading (null: NVML could not read it), with the JSONL's field names. */
export interface NativeTelemetrySample {
  /** Since the timed pass started. */
  t_ms: number;
  sm_clock_mhz: number | null;
  mem_clock_mhz: number | null;
  power_w: number | null;
  temp_c: number | null;
  mem_used_bytes: number | null;
}

/** The timed pass's device telemetry, sampled by native/core/telemetry.h. */
export interface NativeTelemetry {
  samples: NativeTelemetrySample[];
  /** NVML's clocks event (throttle) reason bits, every sample's OR'ed. */
  reasons: number;
  /** The energy counter (mJ) at the pass's start, between prefill and decode, and at its end; [] without one. */
  energyMj: number[];
}

export interface NativeProgress {
  phase: 'waiting' | 'admitted' | 'warmup' | 'timed' | 'profiled' | 'done';
  step: number;
  totalSteps: number;
}

export interface NativeGenerateResult {
  tokens: number[];
  /**
   * Logits (fp32) of every token: the last prompt position, then every decode step's, (steps + 1) ×
   * vocab; with MTP, each emitted token's row of the verification that gave it.
   */
  logits: Float32Array[];
  /** MTP: each drafting's tokens (after the prefill, then after each step; mtpDrafts each), else []. */
  drafts: number[][];
  /** MTP: the logits of each of those drafts. */
  draftLogits: Float32Array[][];
  /** MTP: the drafts accepted at each step. */
  accepted: number[];
}

export interface NativePeaks {
  bytesPerS: number;
  flopsPerS: number;
  copyBytes: number;
  gemmM: number;
  gemmN: number;
  gemmK: number;
}

export interface NativeEngineInfo {
  device: string;
  deviceName: string;
  dtype: 'f32' | 'bf16';
  weightBytes: number;
  kvPoolTokens: number;
  kvBytesPerToken: number;
  blockSize: number;
  /** Seconds spent making (dummy) or loading the weights. */
  weightInitMs: number;
}

export interface NativeDeviceInfo {
  device: string;
  name: string;
  totalBytes: number;
  freeBytes: number;
  computeCapability: string;
  driverVersion: number;
}

export interface NativeEngine {
  /**
   * Makes (dummy) or loads the weights and allocates the KV pool, on the engine's own thread.
   * Call once, first; every other async method queues behind it. Rejects with the init error.
   */
  open(): Promise<NativeEngineInfo>;
  /** Waits (on the engine's thread) for batchSize submitted requests, then runs the three passes. */
  runPoint(opts: NativePointOptions, onProgress: (p: NativeProgress) => void): Promise<NativePointResult>;
  /** Queues one request for the scheduler; callable any time, from any code. */
  submit(request: { id: number; inputIds: Int32Array }): void;
  /**
   * Prefill inputIds, then `steps` greedy decode steps, returning every step's logits; with
   * mtp.mtpDrafts > 0, `steps` MTP steps (verify, accept as pinned, draft), and the drafts. Routes
   * MoE layers for real unless options.moeRouting pins them.
   */
  generate(inputIds: Int32Array, steps: number, useGraphs?: boolean, options?: NativeGenerateOptions): Promise<NativeGenerateResult>;
  measurePeaks(): Promise<NativePeaks>;
  info(): NativeEngineInfo;
  /** Stops the running job between steps (it rejects with ERR_ABORTED). */
  cancel(): void;
  /** Frees every allocation and stops the engine's thread; the engine cannot be used afterwards. */
  close(): Promise<void>;
}

export interface NativeAddon {
  Engine: new (opts: NativeEngineOptions) => NativeEngine;
  /** Backends compiled into this build: always 'cpu', plus 'cuda' where built with CUDA. */
  backends(): string[];
  listDevices(): NativeDeviceInfo[];
}

let cached: NativeAddon | undefined;

/** Loads build/Release first, then prebuilds/ (node-gyp-build). */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => NativeAddon;
  // This file is dist/bridge/native.js (or lib/bridge/native.ts under vitest): the package root is two up.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  cached = load(root);
  return cached;
}
