// benchOneBatch and sweep: the benchmark protocol (docs/architecture.md, Data flow of one grid point) driven from JS. One engine
// serves the whole grid (weights made once, the KV pool reused), sized for its largest point; the
// device peaks are measured once; each point's requests are submitted one at a time, yielding to the
// event loop in between, so the native scheduler really has to wait for the full batch (as it would
// for a server's requests) and waitingMs means what it says.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { NativeAddon, NativeEngineInfo, NativeMoeRouting, NativePointOptions, NativePointResult } from '../bridge/native.js';
import { AbortError, CallbackError, DeviceError, InvalidArgumentError, POINT_FAILURE_CODES, errorForCode, fromNative } from '../base/errors.js';
import { Engine, DEFAULT_BLOCK_SIZE } from '../bridge/engine.js';
import { routingToNative } from '../bridge/wire.js';
import { resolveModel, type ModelSpec } from '../model/model-spec.js';
import { bytesPerElemOf } from './metrics.js';
import { givenPeaks, measureSteadyPeaks, type PeaksMeasurement } from './peaks.js';
import { gatherProvenance, type Provenance } from './provenance.js';
import { kvPoolNote, kvTokensOf, opt, withFitAdvice, type FitContext } from './fit-advice.js';
import { makeInputIds } from './requests.js';
import { getAddon } from '../bridge/device.js';
import { busBytesPerS } from './comm-cost.js';
import { checkModelLayout, checkPlacement, engineGroups, engineParallel, layoutOf, needsCollectives, processIdBytes, type ParallelLayout } from './layout.js';
import { cudaDeviceCount, deviceOfRank, ranksFromEnv, type LaunchRanks } from './ranks.js';
import { rendezvous, type RankGroup } from './rendezvous.js';
import { combineOutcomes, type RankOutcome } from './rank-merge.js';
import { agreePoint, agreeSizing, kvRefusal, type LaunchSizing, type Refusal } from './rank-agree.js';
import { planEngine, precheckPoint, type EnginePlan } from './plan.js';
import { checkMtpModel } from '../model/mtp.js';
import { buildPointResult, failedPoint, type PointOutcome, type PointResult, type RunContext } from './result.js';
import {
  gridPointKey,
  gridPoints,
  parseBenchOptions,
  parseSweepOptions,
  type BenchOptions,
  type GridPoint,
  type ResolvedSweepOptions,
  type SweepOptions,
} from './options.js';

export interface SweepResult {
  runName: string;
  model: ModelSpec;
  device: string;
  deviceName: string;
  dtype: 'f32' | 'bf16';
  /** The peaks every floor, MFU and MBU of the run uses, with how they were measured. */
  peaks: PeaksMeasurement;
  /** Where the results came from; every point carries the same object. */
  provenance: Provenance;
  engine: NativeEngineInfo;
  plan: EnginePlan;
  /** One per grid point not in skipPoints, in grid order (batch × input × output, or the points as given). */
  points: PointOutcome[];
}

/** Makes a run name safe as a file name prefix. */
function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_');
}

function abortError(done: number, total: number, results: PointOutcome[]): AbortError {
  const e = new AbortError(`aborted after ${done} of ${total} points`);
  e.results = results;
  return e;
}

/** What every point of a sweep runs with: the sweep's routing (parsed once) and this process's rank. */
interface PointContext {
  runName: string;
  moeRouting: NativeMoeRouting;
  launch: LaunchRanks;
  /** This process's first DP rank: its requests are the ones after the lower DP ranks' (another batch). */
  dpRank: number;
  /** DP groups the engine runs, each a batch of B (engineGroups): it waits for B × groups requests. */
  groups: number;
  /**
   * A launch whose processes meet in collectives: a point that fails inside the engine ends the run
   * on its rank, since the engine aborted its communicators and the other ranks may wait in them.
   */
  collectives: boolean;
}

/** Runs one point: starts the native job, then feeds it its batch one request at a time. */
async function runPoint(engine: Engine, o: ResolvedSweepOptions, pc: PointContext, point: GridPoint, index: number, count: number): Promise<NativePointResult> {
  const { runName, moeRouting } = pc;
  // Each process of a launch writes its own traces.
  const rankSuffix = pc.launch.world > 1 ? `_rank${pc.launch.rank}` : '';
  const { batchSize: B, inputLen: L, outputLen: O } = point;
  const nativeOpts: NativePointOptions = {
    batchSize: B,
    inputLen: L,
    outputLen: O,
    mode: o.mode,
    batchTimeoutMs: o.batchTimeoutMs,
    useGraphs: o.useGraphs,
    profile: o.profile,
    profileDecodeSteps: o.profileDecodeSteps,
    runName,
    moeRouting,
    ...(o.mtpDrafts > 0 ? { mtpDrafts: o.mtpDrafts, mtpAccept: o.mtpAccept ?? 'all' } : {}),
    ...(o.profile !== 'none' ? { tracePrefix: path.join(o.outDir, `${fileSafe(runName)}_bs${B}_in${L}_out${O}${rankSuffix}`) } : {}),
  };
  const onProgress = o.onProgress;
  const job = engine.runPoint(nativeOpts, (p) => onProgress?.({ point, pointIndex: index, pointCount: count, ...p }));
  // Stop feeding a job that already failed (e.g. refused as too large) or was aborted; the
  // handler also keeps an early rejection from being reported as unhandled before we await it.
  let settled = false;
  job.then(
    () => (settled = true),
    () => (settled = true),
  );
  try {
    // Yield first: a point the addon refuses up front (does not fit) settles before any request is sent.
    await yieldToLoop();
    for (let i = 0; i < B * pc.groups && !settled && !o.signal?.aborted; i++) {
      // Request i of every point gets the same prompt: points differ only in what they vary.
      engine.submit(makeInputIds(o.seed, pc.dpRank * B + i, L, engine.spec.vocabSize));
      await yieldToLoop();
    }
  } catch (e) {
    // A submission failed: stop the job that waits for the batch before the next point starts.
    engine.cancel();
    await job.catch(() => {});
    throw e;
  }
  return await job;
}

// Trace files go to outDir: made before the engine opens, so a path that cannot be a folder costs
// no measurement and is the caller's typed error, not a raw fs error after the run began.
function makeOutDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const allowed = 'a folder path that exists or can be created';
    const reason = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new InvalidArgumentError(`outDir: '${dir}' cannot be used (${reason}) (allowed: ${allowed})`, { field: 'outDir', allowed });
  }
}

/**
 * The ranks of a launch meet (rendezvous.ts) before any engine opens; one process meets nobody.
 * Rank 0 hands every rank the ids their groups join by (engineParallel): NCCL unique ids where the
 * layout has collectives on CUDA (made here, so a machine without NCCL says so once, on every rank,
 * before any point), else random bytes nobody joins with.
 */
async function meetRanks(launch: LaunchRanks, r: { addon: NativeAddon; spec: ModelSpec; layout: ParallelLayout; device: string }): Promise<RankGroup | undefined> {
  if (launch.world === 1 || launch.addr === undefined || launch.port === undefined) return undefined;
  const { layout } = r;
  const nccl = r.device !== 'cpu' && needsCollectives(r.spec, layout);
  const makeId = () => (nccl ? r.addon.ncclUniqueIds(layout.dp + layout.tp) : randomBytes(processIdBytes(layout)));
  return rendezvous({ rank: launch.rank, world: launch.world, addr: launch.addr, port: launch.port, makeId });
}

/** A rank's failure as the others see it: its code and message. */
function rankFailure(e: unknown): RankOutcome & { ok: false } {
  const err = fromNative(e);
  return { ok: false, code: err.code, message: err.message };
}

// The model and the device are resolved here, once per sweep; the plan, the engine and the results
// take the resolved spec and device. The layout is checked against both before any engine opens.
async function runSweep(o: ResolvedSweepOptions): Promise<SweepResult> {
  if (o.signal?.aborted) throw abortError(0, 0, []);
  const startedAt = new Date();
  const spec = resolveModel(o.model, o.layers === undefined ? {} : { layers: o.layers });
  checkMtpModel(spec, o.mtpDrafts);
  const layout = layoutOf(o);
  checkModelLayout(spec, layout);
  const launch = ranksFromEnv();
  const addon = getAddon(o.addon);
  const device = deviceOfRank(addon, o.device, launch);
  checkPlacement(spec, layout, { device, gpus: cudaDeviceCount(addon), launch });
  const runName = o.runName ?? spec.name;
  if (o.profile !== 'none') makeOutDir(o.outDir);
  const group = await meetRanks(launch, { addon, spec, layout, device });
  let failure: string | undefined;
  try {
    return await runResolved(o, { spec, layout, launch, addon, device, runName, startedAt, group });
  } catch (e) {
    failure = fromNative(e).message;
    throw e;
  } finally {
    await group?.close(failure);
  }
}

/** What runSweep resolved and checked once, for the engine and every point. */
interface Resolved {
  spec: ModelSpec;
  layout: ParallelLayout;
  launch: LaunchRanks;
  addon: NativeAddon;
  device: string;
  runName: string;
  startedAt: Date;
  /** The ranks of a launch; absent in a single process. */
  group: RankGroup | undefined;
}

async function runResolved(o: ResolvedSweepOptions, r: Resolved): Promise<SweepResult> {
  const { spec, layout, launch, addon, device, runName, startedAt, group } = r;

  // Prefill mode runs one forward and makes one token, whatever output length was asked.
  const notes: string[] = [];
  const asked = [...new Set(o.points?.map((p) => p.outputLen) ?? o.outputLens)];
  if (o.mode === 'prefill' && asked.some((x) => x !== 1)) {
    notes.push(`prefill mode: output_len forced to 1 (asked ${asked.join(',')})`);
  }
  const cores = availableParallelism();
  if (device === 'cpu' && o.threads !== undefined && o.threads > cores) {
    notes.push(`${opt('threads')} ${o.threads} is more than the ${cores} cores here: workers share cores, so the times rise and vary`);
  }
  if (o.mtpDrafts > 0 && o.mode !== 'prefill') {
    notes.push(`MTP: output_len counts decode steps; each emits the accepted drafts + 1 tokens per request`);
  }
  if (layout.simulated) {
    notes.push(`simulated tp ${layout.tp} × dp ${layout.dp}: rank 0's shard ran alone, its collectives moved nothing; the times are estimates and its tokens are not meaningful (rank 0 alone does not see the other ranks' partial sums)`);
  }
  const skip = new Set((o.skipPoints ?? []).map(gridPointKey));
  const points = gridPoints(o, o.mode).filter((p) => !skip.has(gridPointKey(p)));
  const refusals = points.map((p) => precheckPoint(spec, p, o.mode, o.mtpDrafts));
  const runnable = points.filter((_, i) => refusals[i] === undefined);

  const fit: FitContext = {
    kvPoolTokens: o.kvPoolTokens,
    gridKvTokens: Math.max(0, ...runnable.map((p) => kvTokensOf(p, o.mode, o.mtpDrafts, DEFAULT_BLOCK_SIZE))),
  };
  const kvNote = kvPoolNote(fit);
  if (kvNote) notes.push(kvNote);
  const plan = planEngine({
    points: runnable,
    mode: o.mode,
    blockSize: DEFAULT_BLOCK_SIZE,
    drafts: o.mtpDrafts,
    ...(o.kvPoolTokens !== undefined ? { kvPoolTokens: o.kvPoolTokens } : {}),
  });
  const pc: PointContext = {
    runName, moeRouting: routingToNative(o.moeRouting), launch, dpRank: Math.floor(launch.rank / layout.tp), groups: engineGroups(layout, launch),
    collectives: group !== undefined && needsCollectives(spec, layout),
  };
  const baseCtx = { runName, spec, device, mode: o.mode, seed: o.seed, routing: o.moeRouting, mtpDrafts: o.mtpDrafts, mtpAccept: o.mtpAccept ?? 'all', layout };
  const openEngine = () => Engine.openResolved({ spec, device, addon }, {
    seed: o.seed,
    ...(o.weightsPath !== undefined ? { weightsPath: o.weightsPath } : {}),
    maxBatch: plan.maxBatch,
    maxContext: plan.maxContext,
    maxTokensPerStep: plan.maxTokensPerStep,
    kvPoolTokens: plan.kvPoolTokens,
    blockSize: DEFAULT_BLOCK_SIZE,
    ...(o.mtpDrafts > 0 ? { maxDrafts: o.mtpDrafts } : {}),
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    mlaPrefill: o.mlaPrefill,
    parallel: engineParallel(layout, launch, group?.id),
  });
  let engine: Engine;
  try {
    engine = await openEngine();
  } catch (e) {
    // The engine does not fit (weights, or the activations of the largest point): no point can run,
    // and each is reported failed through onPoint, as a point that fails in a sweep is.
    const native = fromNative(e);
    const err = native.code === 'ERR_DOES_NOT_FIT' ? errorForCode(native.code, withFitAdvice(native.message, fit), { cause: native }) : native;
    if (POINT_FAILURE_CODES.includes(err.code) && err.code !== 'ERR_INVALID_ARGUMENT') {
      for (const point of points) o.onPoint?.(failedPoint({ ...baseCtx, provenance: null }, point, notes, err.code, err.message));
    }
    throw err;
  }

  const results: PointOutcome[] = [];
  const onAbort = () => engine.cancel();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // An exchange between the ranks that fails once this run was interrupted (a launch's ranks all
  // are, and the first to stop tells the others so) is the abort.
  const exchange = async <T>(between: Promise<T>): Promise<T> => {
    try {
      return await between;
    } catch (e) {
      if (o.signal?.aborted) throw abortError(results.length, points.length, results);
      throw e;
    }
  };
  try {
    // In a launch every rank holds its points to the smallest KV pool, which its info then reports
    // (as one process's engine reports its smallest rank's).
    const sizing: LaunchSizing | undefined = group ? await exchange(agreeSizing(group, engine.info(), fit)) : undefined;
    const info = sizing ? { ...engine.info(), kvPoolTokens: sizing.kvPoolTokens } : engine.info();
    const peaks = o.peaks ? givenPeaks(o.peaks) : await measureSteadyPeaks(() => engine.measurePeaks(), device === 'cpu');
    const provenance = gatherProvenance({ addon, info, spec, seed: o.seed, peaks, startedAt, layout, launch });
    const ctx: RunContext = {
      ...baseCtx,
      info,
      provenance,
      peaks: {
        flopsPerS: peaks.flopsPerS,
        bytesPerS: peaks.bytesPerS,
        ...(peaks.copyCalls && { copyCalls: peaks.copyCalls }),
        ...(peaks.gemmCalls && { gemmCalls: peaks.gemmCalls }),
      },
      bytesPerElem: bytesPerElemOf(info.dtype),
      profileDecodeSteps: o.profileDecodeSteps,
      // The busBandwidth option overrides the bus the engine measured with its own communicator.
      busBytesPerS: o.busBandwidth !== undefined ? busBytesPerS(o.busBandwidth) : peaks.bus?.bytesPerS ?? null,
    };

    for (let i = 0; i < points.length; i++) {
      if (o.signal?.aborted) throw abortError(results.length, points.length, results);
      const point = points[i] as GridPoint;
      const precheck = refusals[i];
      const own: Refusal | undefined = precheck !== undefined ? { code: 'ERR_INVALID_ARGUMENT', message: precheck }
        : sizing ? kvRefusal(point, o.mode, o.mtpDrafts, sizing) : undefined;
      // In a launch no rank enters the point unless every rank does.
      const refusal = group ? await exchange(agreePoint(group, i, point, own)) : own;
      let outcome: RankOutcome;
      if (refusal !== undefined) {
        outcome = { ok: false, ...refusal };
      } else {
        try {
          outcome = { ok: true, raw: await runPoint(engine, o, pc, point, i, points.length) };
        } catch (e) {
          const err = fromNative(e);
          if (err instanceof CallbackError) throw err;
          if (err.code === 'ERR_ABORTED' || o.signal?.aborted) throw abortError(results.length, points.length, results);
          if (!POINT_FAILURE_CODES.includes(err.code)) throw err;
          if (pc.collectives) {
            throw new DeviceError(`point ${gridPointKey(point)} failed on rank ${launch.rank} after every rank began it: ${err.message} (its collectives are aborted, and the other ranks may wait in them: the launch stops)`);
          }
          outcome = rankFailure(err.code === 'ERR_DOES_NOT_FIT' ? errorForCode(err.code, withFitAdvice(err.message, fit)) : err);
        }
      }
      // Rank 0 merges every rank's outcome; another rank keeps its own.
      const all = group ? await exchange(group.gather(i, outcome)) : undefined;
      const merged = combineOutcomes(all ?? [outcome]);
      const result: PointOutcome = merged.ok
        ? buildPointResult(ctx, point, merged.raw, notes, await engine.gemmAlgos(), merged.ranks)
        : failedPoint(ctx, point, notes, merged.code, merged.message);
      results.push(result);
      try {
        o.onPoint?.(result);
      } catch (e) {
        throw new CallbackError('onPoint', e);
      }
    }
    return { runName, model: spec, device, deviceName: info.deviceName, dtype: info.dtype, peaks, provenance, engine: info, plan, points: results };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await engine.close();
  }
}

/**
 * Runs the grid batchSizes × inputLens × outputLens (or the given points), less skipPoints, on one engine. A point that fails with
 * ERR_DOES_NOT_FIT, ERR_OUT_OF_MEMORY, ERR_INVALID_ARGUMENT or ERR_TIMEOUT is recorded as
 * `{ ok: false, error }` and the sweep goes on; an abort (options.signal) stops it between steps and
 * rejects with AbortError, whose `results` holds the points finished before (each also delivered
 * through onPoint). Any other error rejects. The engine is closed in every case.
 */
export async function sweep(options: SweepOptions): Promise<SweepResult> {
  return runSweep(parseSweepOptions(options));
}

/** One point. Rejects with the point's error (a GpubenchError subclass) when it fails. */
export async function benchOneBatch(options: BenchOptions): Promise<PointResult> {
  const result = await runSweep(parseBenchOptions(options));
  const outcome = result.points[0];
  if (!outcome) throw errorForCode('ERR_INTERNAL', 'benchOneBatch: no result');
  if (!outcome.ok) throw errorForCode(outcome.error.code, outcome.error.message);
  return outcome;
}

