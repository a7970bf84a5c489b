// The contract between the TypeScript library and the Node-API addon (native/addon/).
// Everything here is plain data; bridge/engine.ts wraps it in a typed API for lib/api/.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { selectAddon, type AddonChoice } from './addon-loader.js';
import type { ModelSpec } from '../model/model-spec.js';
import type { RopeSpec } from '../model/rope.js';
import type { MoeSpec } from '../model/moe-spec.js';
import type { MlaForm, MlaSpec } from '../model/mla-spec.js';
import type { MtpAccept } from '../model/mtp.js';
import type { MoeRouting } from '../model/moe-routing.js';

/**
 * The spec as the addon reads it (camelCase of native/core/model_spec.h): the model's plain-data spec
 * (lib/model/) less its name; bridge/wire.ts converts one to the other.
 */
export type NativeRopeSpec = RopeSpec;
export type NativeMoeSpec = MoeSpec;
export type NativeMlaSpec = MlaSpec;
export type NativeModelSpec = Omit<ModelSpec, 'name' | 'modelType'> & { modelType: string };

/**
 * A parallel layout (docs/design.md, "Parallel layouts"): tp * dp ranks, one thread and one device
 * each (cuda:N + rank; on the CPU the threads split between the ranks). Attention and dense MLPs
 * are tensor-parallel over tp ranks within each of dp DP-attention groups; every MoE block runs
 * over all tp * dp ranks, its experts placed on ep of them (ep divides tp * dp). Under dp > 1 a
 * point's batchSize is per DP group: the engine waits for batchSize * dp requests, group d taking
 * the d-th batchSize of them in submission order; acceptedTokens and expertCounts count every
 * group's requests and tokens, firstRequestTokens are request 0's (group 0's first).
 * simulate: only rank 0 runs, on the one device, with the shard this layout gives it (weights, KV,
 * activations) and collectives that move nothing (still ops of the profile, at ~0 ms): one DP
 * group's batch of batchSize, its times rank 0's real compute, its tokens not meaningful.
 */
export interface NativeParallel {
  tp: number;
  ep: number;
  dp: number;
  simulate?: boolean;
  /** A launch's process: the engine runs this one rank of the layout (not with simulate). */
  process?: NativeProcessRank;
}

/**
 * One process of a launch (torchrun, mpirun, srun) runs one rank of the layout on its one device
 * (cuda:LOCAL_RANK): its shard, its own DP group's batch of batchSize requests, its own step times
 * and tokens. Its groups join over NCCL by the ids rank 0 of the launch made (ncclUniqueIds): the
 * TP group of DP group d by id d, the DP group of TP rank t by id dp + t. A layout without
 * collectives (dp replicas of a dense model) joins nothing, and runs on the CPU too; one with
 * collectives on the CPU is refused in one line.
 */
export interface NativeProcessRank {
  /** This process's rank of the layout, 0 to world - 1 (rank r: TP rank r mod tp of DP group ⌊r / tp⌋). */
  rank: number;
  /** tp × dp: one process per rank. */
  world: number;
  /** (dp + tp) × 128 bytes: a 128-byte NCCL unique id per group (bytes nobody joins with where there is no collective). */
  ids: Buffer;
}

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
  /** CPU worker threads (0: all cores), over all ranks. */
  threads?: number;
  /** Default one rank: { tp: 1, ep: 1, dp: 1 }. */
  parallel?: NativeParallel;
  /**
   * 1: move every dummy weight one bf16 ulp up or down (seeded): the logits' distance to the
   * unmoved model's is the bf16 noise floor the GPU tests judge the CUDA backend's error against.
   */
  nudgeWeights?: number;
  /** MLA models: the form of prefill steps (default 'decompressed'); every other step runs absorbed. */
  mlaPrefill?: MlaForm;
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
  /**
   * The kernel path each op family with more than one took in the point's passes, by op name:
   * 'fast' (kernels for the common sizes), 'general' (any size) or 'fast+general'. Empty on the
   * CPU, which has one path.
   */
  kernelPaths: Record<string, string>;
  /** MLA models: the form the timed prefill ran in; null for other models or without a prefill. */
  mlaPrefillForm: MlaForm | null;
  /** MLA models: the form the first timed decode step ran in; null for other models or without decode. */
  mlaDecodeForm: MlaForm | null;
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
  /** The kernel path each op family took, as NativePointResult's kernelPaths. */
  kernelPaths: Record<string, string>;
  /** MLA models: the form the prompt's prefill ran in; null for other models. */
  mlaPrefillForm: MlaForm | null;
}

export interface NativePeaks {
  bytesPerS: number;
  flopsPerS: number;
  copyBytes: number;
  gemmM: number;
  gemmN: number;
  gemmK: number;
  /** The timed calls behind each peak (the peak is the fastest): how still it held. */
  copyCalls: PeakCalls;
  gemmCalls: PeakCalls;
  /** The all-reduce bus bandwidth of the layout's own communicator; null for one rank or a simulated layout. */
  bus: NativeBusPeak | null;
}

/**
 * An all-reduce of `bytes` over rank 0's TP group (its DP group where tp is 1) as nccl-tests reports
 * it: busbw = bytes · 2(ranks − 1)/ranks / the median call's time, each call the slowest rank's.
 */
export interface NativeBusPeak {
  bytesPerS: number;
  bytes: number;
  ranks: number;
  calls: PeakCalls;
}

export interface PeakCalls {
  /** Untimed calls before the timed ones. */
  warmup: number;
  count: number;
  minMs: number;
  medianMs: number;
  maxMs: number;
}

/** One op timed alone (benchOp): `op` with the shape fields it uses; the model gives head counts and sizes. */
export interface NativeOpBenchCase {
  op: 'matmul' | 'attention_decode' | 'attention_prefill' | 'rmsnorm' | 'rope_kv_write' | 'swiglu';
  /** matmul: out[m, n] = x[m, k] w[n, k]^T. */
  m?: number;
  n?: number;
  k?: number;
  /** attention_decode: batch sequences of context ctx; rope_kv_write: ctx > 0 writes one token per sequence at ctx. */
  batch?: number;
  ctx?: number;
  /** attention_prefill (one causal sequence), rmsnorm, rope_kv_write, swiglu: rows. */
  tokens?: number;
  warmup: number;
  calls: number;
}

export interface NativeOpTiming {
  medianMs: number;
  minMs: number;
  maxMs: number;
  calls: number;
  /** Whether the L2 was flushed before each timed call (inputs that a forward reads from memory). */
  l2Flushed: boolean;
  /** The op's minimum memory traffic and its flops: the floor is max(bytes / bytes/s, flops / FLOP/s). */
  bytes: number;
  flops: number;
}

/** The GEMM kernel chosen for one shape (cuBLASLt's algorithm configuration; none on the CPU). */
export interface NativeGemmAlgo {
  m: number;
  n: number;
  k: number;
  batch: number;
  /** 'cublasLt', or 'gpubench_small_m': gpubench's own decode kernel (the cuBLASLt fields are then 0). */
  kernel: string;
  algoId: number;
  tile: number;
  stages: number;
  splitK: number;
  reduction: number;
  swizzle: number;
  custom: number;
  innerShape: number;
  clusterShape: number;
  /** Its index in the heuristic's order (0: the heuristic's first; the own kernel, where weighed, last), of `candidates`. */
  candidate: number;
  candidates: number;
  /** Median µs of the heuristic's first and of the chosen one, L2 flushed (0: not timed). */
  firstUs: number;
  chosenUs: number;
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
  /** The engine's own device (its CPU threads, its CUDA versions); rank 0's under a layout. */
  deviceInfo: NativeDeviceInfo;
  /** The layout the engine runs; weightBytes and kvPoolTokens are then per rank. A launch's process: its rank and world. */
  parallel?: Omit<NativeParallel, 'process'> & { process?: Omit<NativeProcessRank, 'ids'> };
}

export interface NativeDeviceInfo {
  device: string;
  name: string;
  totalBytes: number;
  freeBytes: number;
  /** 'major.minor' on CUDA, '' on the CPU. */
  computeCapability: string;
  /** cudaDriverGetVersion / cudaRuntimeGetVersion (12040: 12.4); 0 on the CPU. */
  driverVersion: number;
  runtimeVersion: number;
  /** Rated SM and memory clocks (cudaDevAttrClockRate, cudaDevAttrMemoryClockRate); 0 where unknown. */
  smClockMhz: number;
  memClockMhz: number;
  /** CPU worker threads; 0 on CUDA. */
  threads: number;
}

/**
 * What the loaded binary is: the commit it was built from ('unknown' outside a checkout), its
 * backends, and NCCL as it loads here ("NCCL 2.28.3", or why not: "libnccl.so.2 not found").
 */
export interface NativeBuildInfo {
  commit: string;
  backends: string[];
  nccl: string;
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
  /**
   * Under dp > 1 every DP group runs one request (group d: inputIds rotated left by d tokens); the
   * result is group 0's, so its logits depend on the collectives returning its own rows.
   */
  generate(inputIds: Int32Array, steps: number, useGraphs?: boolean, options?: NativeGenerateOptions): Promise<NativeGenerateResult>;
  measurePeaks(): Promise<NativePeaks>;
  /** Times one op alone on the engine's backend (bench/ops.mjs). */
  benchOp(c: NativeOpBenchCase): Promise<NativeOpTiming>;
  /** The GEMM kernel chosen for every shape run so far. */
  gemmAlgos(): Promise<NativeGemmAlgo[]>;
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
  buildInfo(): NativeBuildInfo;
  /** n NCCL unique ids, 128 bytes each, in one Buffer; throws DeviceError where NCCL does not load. */
  ncclUniqueIds(n: number): Buffer;
}

let cached: AddonChoice<NativeAddon> | undefined;

/** The addon addon-loader.ts picks for this package (build/Release, the CUDA prebuild, the CPU prebuild) and why. */
export function loadedAddon(): AddonChoice<NativeAddon> {
  // This file is dist/bridge/native.js (or lib/bridge/native.ts under vitest): the package root is two up.
  cached ??= selectAddon<NativeAddon>(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'));
  return cached;
}

export function loadAddon(): NativeAddon {
  return loadedAddon().addon;
}
