// The parallel layout of a sweep (docs/design.md, Parallel layouts): tp × dp ranks, and the EP ranks
// are the same ranks, as sglang places them, so ep divides tp × dp. Checked before any engine opens,
// one line each: against the options (layoutOf), the model (checkModelLayout) and the device and the
// launcher's processes (checkPlacement). shardSpec gives rank 0's shard of a model as a ModelSpec of
// its own, which the cost model prices as it prices a whole model (the parallel floor).
import { InvalidArgumentError } from '../base/errors.js';
import type { ModelSpec } from '../model/model-spec.js';
import type { LaunchRanks } from './ranks.js';

export interface ParallelLayout {
  tp: number;
  ep: number;
  dp: number;
  /** Ranks: tp × dp. */
  world: number;
  /** simulateWorld: only rank 0's shard runs, and the collectives' time is an estimate. */
  simulated: boolean;
}

/** One rank, nothing split: a sweep without layout options. */
export const SINGLE_RANK: ParallelLayout = { tp: 1, ep: 1, dp: 1, world: 1, simulated: false };

function refuse(field: string, value: unknown, allowed: string): never {
  throw new InvalidArgumentError(`${field}: ${String(value)} is not allowed (allowed: ${allowed})`, { field, allowed });
}

export interface LayoutOptions {
  tp: number;
  ep: number;
  dp: number;
  simulateWorld?: number | undefined;
  busBandwidth?: number | undefined;
}

/** The layout the options give, checked where the model and the device do not matter. */
export function layoutOf(o: LayoutOptions): ParallelLayout {
  const world = o.tp * o.dp;
  if (o.ep > world || world % o.ep !== 0) {
    refuse('ep', o.ep, `a divisor of tp × dp = ${world}: the EP ranks are the TP × DP ranks, as in sglang`);
  }
  if (o.simulateWorld !== undefined) {
    if (o.simulateWorld !== world) refuse('simulateWorld', o.simulateWorld, `tp × dp = ${world}, the world of the layout it estimates`);
    if (o.busBandwidth === undefined) {
      const allowed = 'a positive number of GB/s; simulateWorld needs it, as one device has no link to measure';
      throw new InvalidArgumentError(`busBandwidth: is missing (allowed: ${allowed})`, { field: 'busBandwidth', allowed });
    }
  }
  return { tp: o.tp, ep: o.ep, dp: o.dp, world, simulated: o.simulateWorld !== undefined };
}

/**
 * Ranks each FFN block (MLP or MoE) is split over: with DP attention (an MoE model with dp > 1) the
 * FFN blocks see every DP rank's tokens and are split over all tp × dp ranks; else over tp.
 */
export function ffnRanks(spec: ModelSpec, layout: ParallelLayout): number {
  return spec.moe && layout.dp > 1 ? layout.world : layout.tp;
}

/** The layout against the model: heads, KV heads, MLP and expert widths, experts. */
export function checkModelLayout(spec: ModelSpec, layout: ParallelLayout): void {
  const { tp, ep } = layout;
  const name = spec.name;
  if (spec.numHeads % tp !== 0) refuse('tp', tp, `a divisor of the ${spec.numHeads} attention heads of ${name}`);
  const kv = spec.numKvHeads;
  // GQA: each rank holds kv/tp KV heads, or (tp > kv) one KV head held by tp/kv ranks. MLA's latent
  // cache is one row per token, not per head: every rank holds it.
  if (!spec.mla && kv % tp !== 0 && tp % kv !== 0) {
    refuse('tp', tp, `a divisor or a multiple of the ${kv} KV heads of ${name} (and a divisor of its ${spec.numHeads} heads)`);
  }
  const ffn = ffnRanks(spec, layout);
  const ffnField = ffn === tp ? 'tp' : 'dp';
  const ffnWhat = ffn === tp ? 'tp' : 'tp × dp (DP attention splits the FFN over every rank)';
  if (spec.intermediateSize % ffn !== 0) {
    refuse(ffnField, ffnField === 'tp' ? tp : layout.dp, `${ffnWhat} a divisor of intermediate_size ${spec.intermediateSize} of ${name}`);
  }
  if (ep > 1 && !spec.moe) refuse('ep', ep, `1 for ${name}, a dense model (expert parallel places experts)`);
  const moe = spec.moe;
  if (!moe) return;
  if (moe.numExperts % ep !== 0) refuse('ep', ep, `a divisor of the ${moe.numExperts} experts of ${name}`);
  // Each expert is split over the ranks of its EP group: the FFN's ranks / ep.
  const perExpert = ffn / ep;
  if (moe.expertIntermediateSize % perExpert !== 0) {
    refuse('ep', ep, `a value with ${ffnWhat} / ep = ${perExpert} dividing the expert width ${moe.expertIntermediateSize} of ${name}`);
  }
  if (moe.sharedIntermediateSize % ffn !== 0) {
    refuse(ffnField, ffnField === 'tp' ? tp : layout.dp, `${ffnWhat} a divisor of the shared expert width ${moe.sharedIntermediateSize} of ${name}`);
  }
}

export interface Placement {
  /** 'cpu' or 'cuda:N', as resolved. */
  device: string;
  /** CUDA devices the addon lists (0 on a CPU-only build). */
  gpus: number;
  /** The launcher's processes (ranks.ts); world 1 for a single process. */
  launch: LaunchRanks;
}

/**
 * The layout against the device and the processes: one process drives tp × dp GPUs (or, on the CPU,
 * as many ranks as threads); several processes run one rank each, and on the CPU, which has no
 * communicator across processes, only data parallel replicas of a dense model.
 */
export function checkPlacement(spec: ModelSpec, layout: ParallelLayout, p: Placement): void {
  const { world } = layout;
  const processes = p.launch.world;
  if (processes > 1) {
    if (layout.simulated) refuse('simulateWorld', world, `absent when ${p.launch.launcher} starts ${processes} processes: an estimate runs on one device`);
    if (world !== processes) {
      const allowed = `one process per rank: tp × dp = WORLD_SIZE ${processes} of ${p.launch.launcher}`;
      throw new InvalidArgumentError(`layout: tp × dp = ${world} ranks, but ${p.launch.launcher} started ${processes} processes (allowed: ${allowed})`, {
        field: 'dp', allowed,
      });
    }
    if (p.device === 'cpu' && (layout.tp > 1 || layout.ep > 1 || spec.moe)) {
      const allowed = 'with several processes on the CPU, dp only (tp 1, ep 1) of a dense model: its ranks are independent replicas; run tp, ep and MoE layouts on the CPU in one process, whose threads are the ranks';
      throw new InvalidArgumentError(`layout: tp ${layout.tp}, ep ${layout.ep}, dp ${layout.dp} of ${spec.name} over ${processes} CPU processes is not allowed (allowed: ${allowed})`, {
        field: layout.tp > 1 ? 'tp' : layout.ep > 1 ? 'ep' : 'dp', allowed,
      });
    }
    return;
  }
  if (p.device === 'cpu' || layout.simulated) return;
  if (world > p.gpus) {
    refuse(layout.tp > 1 ? 'tp' : 'dp', layout.tp > 1 ? layout.tp : layout.dp, `tp × dp at most the ${p.gpus} GPU${p.gpus === 1 ? '' : 's'} here (tp × dp = ${world} ranks, one GPU each); simulateWorld estimates a larger world on one GPU`);
  }
}

/**
 * Rank 0's shard as a ModelSpec: heads over tp (GQA's KV heads too, or one where tp exceeds them;
 * MLA's latent projections and cache whole), the MLP and the LM head (vocab) over tp, the experts
 * over ep. The MoE block sees the tokens of dp ranks (DP attention) split over tp × dp ranks; over
 * the shard's own tokens that is topK · dp / ep routed slots per token on experts of width
 * expert · ep / (tp · dp): the same flops, the same experts hit and the same expert bytes as rank 0
 * has (docs/design.md, Parallel floors). Shared experts and dense layers count as split over tp.
 */
export function shardSpec(spec: ModelSpec, layout: ParallelLayout): ModelSpec {
  const { tp, ep, dp, world } = layout;
  if (world === 1) return spec;
  const heads = spec.numHeads / tp;
  const shard: ModelSpec = {
    ...spec,
    numHeads: heads,
    numKvHeads: spec.mla ? heads : Math.max(1, spec.numKvHeads / tp),
    intermediateSize: spec.intermediateSize / tp,
    vocabSize: spec.vocabSize / tp,
  };
  if (spec.moe) {
    shard.moe = {
      ...spec.moe,
      numExperts: spec.moe.numExperts / ep,
      topK: (spec.moe.topK * dp) / ep,
      expertIntermediateSize: (spec.moe.expertIntermediateSize * ep) / world,
      sharedIntermediateSize: spec.moe.sharedIntermediateSize / tp,
    };
  }
  return shard;
}
