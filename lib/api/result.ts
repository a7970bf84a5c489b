// What one grid point produced, with every metric of the cost model (metrics.ts), built from the
// addon's raw timings by a pure function (so the arithmetic is tested without an engine).
import type { Mode, NativeEngineInfo, NativeGemmAlgo, NativeOpTime, NativePointResult } from '../bridge/native.js';
import type { GridPoint } from './options.js';
import type { ModelSpec } from '../model/model-spec.js';
import type { MlaForm } from '../model/mla-spec.js';
import type { ErrorCode } from '../base/errors.js';
import { decodeStepCost, floorMs, mbu, mfu, prefillCost, summarize, type Peaks, type Stats } from './metrics.js';
import { acceptText, type MtpAccept } from '../model/mtp.js';
import { summarizeTelemetry, type PointTelemetry } from './telemetry.js';
import type { Provenance } from './provenance.js';
import { SINGLE_RANK, shardExpertCounts, shardSpec, type ParallelLayout } from './layout.js';
import { commCost, forwardCollectives, parallelFloorMs, type CommCost } from './comm-cost.js';
import type { RankTimes } from './rank-merge.js';

// AbortError (lib/base/) sits below the results it carries, so its `results` field is declared here.
declare module '../base/errors.js' {
  interface AbortError {
    /** The points a sweep finished before it was aborted. */
    results?: PointOutcome[];
  }
}

/** The cuBLASLt kernel chosen for one GEMM shape (bridge's wire type; report/ formats it). */
export type GemmAlgo = NativeGemmAlgo;

/** Device time of one op kind in a profiled pass. */
export interface OpShare {
  op: string;
  /** Summed over the pass (every layer, every profiled step). */
  ms: number;
  /** Per forward: ms divided by the forwards the pass profiled. */
  msPerStep: number;
  /** Fraction of the pass's total op time. */
  share: number;
  calls: number;
}

interface PointBase {
  runName: string;
  model: string;
  modelType: string;
  numLayers: number;
  device: string;
  mode: Mode;
  seed: number;
  batchSize: number;
  inputLen: number;
  /** The output length that ran (1 in prefill mode, whatever was asked). */
  outputLen: number;
  /** Things the reader should know about how the point ran (e.g. output_len forced to 1). */
  notes: string[];
  /** The MoE routing policy (README, Mixture-of-experts models); null for dense models. */
  routing: string | null;
  /** MTP draft tokens per step (0: MTP off). */
  mtpDrafts: number;
  /** The pinned MTP acceptance ('all', 'N' or 'rate:r'); null with MTP off. */
  mtpAccept: string | null;
  /** Where the result came from (one object per sweep); null when the engine could not be opened. */
  provenance: Provenance | null;
  /** The parallel layout (docs/design.md, Parallel layouts): batchSize is per DP rank. */
  tp: number;
  ep: number;
  dp: number;
  /** Ranks: tp × dp. */
  world: number;
  /** simulateWorld: rank 0's shard was measured and the collectives' time added; not a measurement. */
  estimate: boolean;
}

export interface PointResult extends PointBase {
  ok: true;
  deviceName: string;
  dtype: 'f32' | 'bf16';
  waitingMs: number;
  prefillMs: number | null;
  prefillTokPerS: number | null;
  /** Every timed decode step, and the context each attended to. */
  decodeStepMs: number[];
  decodeContext: number[];
  decode: Stats | null;
  /**
   * MTP: tokens emitted per request and step (accepted drafts + 1), the mean over the timed steps
   * and the batch; null with MTP off.
   */
  acceptedPerStep: number | null;
  /** dp × B × (acceptedPerStep, 1 without MTP) / median step: summed over the DP ranks. */
  decodeTokPerS: number | null;
  totalMs: number;
  overallTokPerS: number | null;
  prefillFloorMs: number | null;
  prefillRatio: number | null;
  prefillMfu: number | null;
  prefillMbu: number | null;
  /** Floor of a decode step at the median context of the timed steps. */
  decodeFloorMs: number | null;
  decodeFloorContext: number | null;
  decodeRatio: number | null;
  decodeMfu: number | null;
  decodeMbu: number | null;
  peaks: Peaks;
  usedGraphs: boolean;
  breakdown: { prefill: OpShare[]; decode: OpShare[] };
  traceFiles: string[];
  /** Greedy tokens of request 0 (a cheap determinism check across runs and devices). */
  firstRequestTokens: number[];
  /**
   * MoE: tokens per expert at the first MoE layer in the first timed forward (the prefill in prefill
   * mode, else the first decode step); empty for dense models.
   */
  expertCounts: number[];
  /** The timed pass's device telemetry (api/telemetry.ts); null with telemetryReason saying why. */
  telemetry: PointTelemetry | null;
  telemetryReason: string | null;
  /** The GEMM kernel the engine chose per shape, for every shape it has run by the end of this point. */
  gemmAlgos: GemmAlgo[];
  /** The kernel path each op family took: 'fast', 'general' or 'fast+general' (empty on the CPU). */
  kernelPaths: Record<string, string>;
  /**
   * MLA models: the form the timed prefill and the first timed decode step ran in (docs/design.md,
   * "MLA: absorbed and decompressed"; the floors count that form); null for other models, or where
   * the mode has no such phase.
   */
  mlaPrefillForm: MlaForm | null;
  mlaDecodeForm: MlaForm | null;
  /** The collectives' bus bandwidth the comm times use, GB/s (given, or measured); null without one. */
  busBandwidthGBps: number | null;
  /**
   * Σ sizes of the collectives of one prefill and of one decode step (comm-cost.ts), and their time
   * at the bus bandwidth (an estimate; null without one); null with one rank. The floors of a
   * parallel step add that time; with simulateWorld the step times include it.
   */
  prefillCommBytes: number | null;
  prefillCommTimeEstimateMs: number | null;
  decodeCommBytes: number | null;
  decodeCommTimeEstimateMs: number | null;
  /** Each rank's own prefill and median decode step, where several processes ran the point (empty otherwise). */
  rankTimes: RankTimes[];
}

export interface PointFailure extends PointBase {
  ok: false;
  error: { code: ErrorCode; message: string };
}

export type PointOutcome = PointResult | PointFailure;

export interface RunContext {
  runName: string;
  spec: ModelSpec;
  device: string;
  info: NativeEngineInfo;
  mode: Mode;
  seed: number;
  peaks: Peaks;
  bytesPerElem: number;
  /** Decode steps the profiled pass covers. */
  profileDecodeSteps: number;
  /** The moeRouting option (reported for MoE models only). */
  routing: string;
  /** The mtpDrafts option (0: off) and the acceptance it runs with. */
  mtpDrafts: number;
  mtpAccept: MtpAccept;
  provenance: Provenance | null;
  /** Default: one rank (SINGLE_RANK). */
  layout?: ParallelLayout;
  /** The collectives' bus bandwidth, bytes/s; null (the default) where none was given or measured. */
  busBytesPerS?: number | null;
}

/** Sums a profiled pass's op times by op kind, largest first. */
export function aggregateOps(ops: readonly NativeOpTime[], forwards: number): OpShare[] {
  const byOp = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  for (const t of ops) {
    const e = byOp.get(t.op) ?? { ms: 0, calls: 0 };
    e.ms += t.ms;
    e.calls += 1;
    byOp.set(t.op, e);
    total += t.ms;
  }
  const n = Math.max(1, forwards);
  return [...byOp.entries()]
    .map(([op, e]) => ({ op, ms: e.ms, msPerStep: e.ms / n, share: total > 0 ? e.ms / total : 0, calls: e.calls }))
    .sort((a, b) => b.ms - a.ms);
}

/** x / seconds, or null when there is no time to divide by. */
function perSecond(x: number, ms: number | null): number | null {
  return ms !== null && ms > 0 ? x / (ms / 1000) : null;
}

function ratio(ms: number | null, floor: number | null): number | null {
  return ms !== null && floor !== null && floor > 0 ? ms / floor : null;
}

function median(xs: readonly number[]): number {
  return summarize(xs).median;
}

type BaseContext = Pick<RunContext, 'runName' | 'spec' | 'device' | 'mode' | 'seed' | 'routing' | 'mtpDrafts' | 'mtpAccept' | 'layout'> & {
  provenance: Provenance | null;
};

export function failedPoint(ctx: BaseContext, point: GridPoint, notes: string[], code: ErrorCode, message: string): PointFailure {
  return { ...base(ctx, point, notes), ok: false, error: { code, message } };
}

function base(ctx: BaseContext, point: GridPoint, notes: string[]): PointBase {
  const layout = ctx.layout ?? SINGLE_RANK;
  return {
    runName: ctx.runName,
    modelType: ctx.spec.modelType,
    numLayers: ctx.spec.numLayers,
    device: ctx.device,
    mode: ctx.mode,
    seed: ctx.seed,
    batchSize: point.batchSize,
    inputLen: point.inputLen,
    outputLen: point.outputLen,
    notes,
    ...pointSettings(ctx),
    provenance: ctx.provenance,
    tp: layout.tp,
    ep: layout.ep,
    dp: layout.dp,
    world: layout.world,
    estimate: layout.simulated,
  };
}

/** One forward's collectives and their time; null with one rank. */
function forwardComm(ctx: RunContext, layout: ParallelLayout, tokens: number): CommCost | null {
  if (layout.world === 1) return null;
  return commCost(forwardCollectives(ctx.spec, layout, tokens, ctx.bytesPerElem), ctx.busBytesPerS ?? null);
}

/**
 * The settings a point is told apart by besides its shape and mode (the views' pointKey; --resume
 * matches the points of a saved run with them): the model, the routing of an MoE model, the MTP
 * drafts and acceptance.
 */
export function pointSettings(ctx: Pick<RunContext, 'spec' | 'routing' | 'mtpDrafts' | 'mtpAccept'>): Pick<PointBase, 'model' | 'routing' | 'mtpDrafts' | 'mtpAccept'> {
  return {
    model: ctx.spec.name,
    routing: ctx.spec.moe ? ctx.routing : null,
    mtpDrafts: ctx.mtpDrafts,
    mtpAccept: ctx.mtpDrafts > 0 ? acceptText(ctx.mtpAccept) : null,
  };
}

export function buildPointResult(
  ctx: RunContext,
  point: GridPoint,
  raw: NativePointResult,
  notes: string[] = [],
  gemmAlgos: GemmAlgo[] = [],
  rankTimes: RankTimes[] = [],
): PointResult {
  const { peaks, bytesPerElem } = ctx;
  const layout = ctx.layout ?? SINGLE_RANK;
  // Costs are rank 0's: its shard of the model (the whole model with one rank).
  const spec = shardSpec(ctx.spec, layout);
  const B = point.batchSize;
  const L = point.inputLen;
  const prefillComm = raw.prefillMs === null ? null : forwardComm(ctx, layout, B * L);
  const decodeComm = raw.decodeStepMs.length === 0 ? null : forwardComm(ctx, layout, B * (1 + ctx.mtpDrafts));
  // An estimate adds the collectives' time to rank 0's measured shard, step by step.
  const addComm = (ms: number, comm: CommCost | null) => (layout.simulated ? ms + (comm?.ms ?? 0) : ms);
  const steps = raw.decodeStepMs.map((ms) => addComm(ms, decodeComm));
  const floorOf = (cost: Parameters<typeof floorMs>[0], comm: CommCost | null) => (comm ? parallelFloorMs(cost, peaks, comm.ms) : floorMs(cost, peaks));

  // The expert counts come from one forward: the prefill when there is no decode step, else the
  // first decode step. The other kind of forward assumes the balanced coverage (metrics.expertsHit).
  // They count every token on every expert; rank 0's shard reads its own experts'.
  const countsOfPrefill = steps.length === 0;
  const shardCounts = shardExpertCounts(raw.expertCounts, ctx.spec, layout);
  const prefillCounts = countsOfPrefill ? shardCounts : undefined;
  const decodeCounts = countsOfPrefill ? undefined : shardCounts;

  const prefillMs = raw.prefillMs === null ? null : addComm(raw.prefillMs, prefillComm);
  let prefillFloorMs: number | null = null, prefillMfu: number | null = null, prefillMbu: number | null = null;
  if (prefillMs !== null) {
    const cost = prefillCost(spec, B, L, bytesPerElem, prefillCounts, ctx.mtpDrafts, raw.mlaPrefillForm ?? undefined);
    prefillFloorMs = floorOf(cost, prefillComm);
    prefillMfu = prefillMs > 0 ? mfu(cost.flops, prefillMs, peaks.flopsPerS) : null;
    prefillMbu = prefillMs > 0 ? mbu(cost.bytes, prefillMs, peaks.bytesPerS) : null;
  }

  const decode = steps.length > 0 ? summarize(steps) : null;
  let decodeFloorMs: number | null = null, decodeFloorContext: number | null = null;
  let decodeMfu: number | null = null, decodeMbu: number | null = null;
  if (decode) {
    // The contexts rise by one per step, so their median is the middle step's context; the floor
    // there is what the median step time is compared with.
    decodeFloorContext = Math.round(raw.decodeContext.length > 0 ? median(raw.decodeContext) : L + (steps.length + 1) / 2);
    const cost = decodeStepCost(spec, B, decodeFloorContext, bytesPerElem, decodeCounts, ctx.mtpDrafts);
    decodeFloorMs = floorOf(cost, decodeComm);
    decodeMfu = decode.median > 0 ? mfu(cost.flops, decode.median, peaks.flopsPerS) : null;
    decodeMbu = decode.median > 0 ? mbu(cost.bytes, decode.median, peaks.bytesPerS) : null;
  }

  const totalMs = (prefillMs ?? 0) + steps.reduce((s, x) => s + x, 0);
  // Tokens one DP group's timed decode steps emitted (B per step without MTP): the engine counts
  // every group it runs (all dp of them in one process; one in a launch's process or simulated).
  const par = ctx.info.parallel;
  const groupsRun = par && !par.simulate && !par.process ? par.dp : 1;
  const emitted = raw.acceptedTokens.reduce((s, x) => s + x, 0) / groupsRun;
  const acceptedPerStep = ctx.mtpDrafts > 0 && steps.length > 0 ? emitted / (steps.length * B) : null;
  // sglang counts input and output tokens over the whole run (the prefill makes the first output
  // token); decode mode processes no input.
  // Every DP rank runs a batch of B: throughput is summed over them.
  const dp = layout.dp;
  const overallTokens = dp * ((ctx.mode === 'decode' ? 0 : B * (L + 1)) + emitted);
  const profiledDecodeForwards = Math.min(ctx.profileDecodeSteps, steps.length);

  return {
    ...base(ctx, point, notes),
    ok: true,
    deviceName: ctx.info.deviceName,
    dtype: ctx.info.dtype,
    waitingMs: raw.waitingMs,
    prefillMs,
    prefillTokPerS: prefillMs === null ? null : perSecond(dp * B * L, prefillMs),
    decodeStepMs: steps,
    decodeContext: [...raw.decodeContext],
    decode,
    acceptedPerStep,
    decodeTokPerS: decode ? perSecond(dp * B * (acceptedPerStep ?? 1), decode.median) : null,
    totalMs,
    overallTokPerS: perSecond(overallTokens, totalMs),
    prefillFloorMs,
    prefillRatio: ratio(prefillMs, prefillFloorMs),
    prefillMfu,
    prefillMbu,
    decodeFloorMs,
    decodeFloorContext,
    decodeRatio: ratio(decode?.median ?? null, decodeFloorMs),
    decodeMfu,
    decodeMbu,
    peaks,
    usedGraphs: raw.usedGraphs,
    breakdown: {
      prefill: aggregateOps(raw.profiledPrefill, 1),
      decode: aggregateOps(raw.profiledDecode, profiledDecodeForwards),
    },
    traceFiles: [...raw.traceFiles],
    firstRequestTokens: [...raw.firstRequestTokens],
    expertCounts: [...raw.expertCounts],
    telemetry: raw.telemetry ? summarizeTelemetry(raw.telemetry, prefillMs === null ? 0 : B * L, steps.length > 0 ? emitted : 0) : null,
    telemetryReason: raw.telemetry ? null : raw.telemetryReason,
    gemmAlgos,
    kernelPaths: { ...raw.kernelPaths },
    mlaPrefillForm: raw.mlaPrefillForm,
    mlaDecodeForm: raw.mlaDecodeForm,
    busBandwidthGBps: ctx.busBytesPerS == null ? null : ctx.busBytesPerS / 1e9,
    prefillCommBytes: prefillComm?.bytes ?? null,
    prefillCommTimeEstimateMs: prefillComm?.ms ?? null,
    decodeCommBytes: decodeComm?.bytes ?? null,
    decodeCommTimeEstimateMs: decodeComm?.ms ?? null,
    rankTimes,
  };
}
