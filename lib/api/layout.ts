// The parallel layout of a sweep (docs/design.md, Parallel layouts): tp × dp ranks, and the EP ranks
// are the same ranks, as sglang places them, so ep divides tp × dp. Checked before any engine opens,
// one line each: against the options (layoutOf), the model (checkModelLayout) and the device and the
// launcher's processes (checkPlacement). shardSpec gives rank 0's shard of a model as a ModelSpec of
// its own, which the cost model prices as it prices a whole model (the parallel floor).
import { InternalError, InvalidArgumentError } from '../base/errors.js';
import type { NativeParallel } from '../bridge/native.js';
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

/** Whether some layer has the dense MLP (every layer of a dense model; an MoE model's dense layers). */
function hasDenseLayer(spec: ModelSpec): boolean {
  return !spec.moe || spec.moe.layerIsMoe.some((isMoe) => !isMoe);
}

/**
 * The layout against the model, the rules of native/core/layout.cc's validate_layout (a layout
 * accepted here opens natively): heads divisible by tp; GQA's KV heads divisible by tp or dividing
 * it; the dense MLP's width by tp (it is split within a DP group); for an MoE model the experts by
 * ep, the expert width by tp × dp / ep (each expert split over its EP group) and the shared expert's
 * by tp × dp (it is split over every rank); ep > 1 only with experts.
 */
export function checkModelLayout(spec: ModelSpec, layout: ParallelLayout): void {
  const { tp, dp, ep, world } = layout;
  const name = spec.name;
  if (ep > 1 && !spec.moe) refuse('ep', ep, `1 for ${name}, a dense model (expert parallel places experts)`);
  if (spec.numHeads % tp !== 0) refuse('tp', tp, `a divisor of the ${spec.numHeads} attention heads of ${name}`);
  const kv = spec.numKvHeads;
  // GQA: each rank holds kv/tp KV heads, or (tp > kv) one KV head held by tp/kv ranks. MLA's latent
  // cache is one row per token, not per head: every rank holds it.
  if (!spec.mla && (kv >= tp ? kv % tp : tp % kv) !== 0) {
    refuse('tp', tp, `a divisor or a multiple of the ${kv} KV heads of ${name} (and a divisor of its ${spec.numHeads} heads)`);
  }
  if (hasDenseLayer(spec) && spec.intermediateSize % tp !== 0) {
    refuse('tp', tp, `a divisor of intermediate_size ${spec.intermediateSize} of ${name} (the dense MLP is split over tp)`);
  }
  const moe = spec.moe;
  if (!moe) return;
  if (moe.numExperts % ep !== 0) refuse('ep', ep, `a divisor of the ${moe.numExperts} experts of ${name}`);
  const perExpert = world / ep;
  if (moe.expertIntermediateSize % perExpert !== 0) {
    refuse('ep', ep, `a value with tp × dp / ep = ${perExpert} dividing the expert width ${moe.expertIntermediateSize} of ${name} (each expert is split over tp × dp / ep ranks)`);
  }
  if (moe.sharedIntermediateSize % world !== 0) {
    const field = dp > 1 ? 'dp' : 'tp';
    refuse(field, field === 'dp' ? dp : tp, `tp × dp = ${world} dividing the shared expert width ${moe.sharedIntermediateSize} of ${name} (the shared expert is split over every rank)`);
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
 * Whether the layout's forward passes call any collective (native/core/layout.h,
 * layout_has_collectives): tp > 1, or an MoE model over DP groups (DP attention's gather and
 * scatter). DP replicas of a dense model exchange nothing.
 */
export function needsCollectives(spec: ModelSpec, layout: ParallelLayout): boolean {
  return layout.tp > 1 || (spec.moe !== undefined && layout.dp > 1);
}

/**
 * The layout against the device and the processes. One process drives tp × dp GPUs (the addon's
 * CUDA devices, over NCCL) or, on the CPU, as many ranks as threads; a simulated layout runs rank 0
 * alone on one device. Several processes (a launcher's) run one rank each, on cuda:LOCAL_RANK, so
 * tp × dp = the processes; their collectives cross processes, which NCCL does on CUDA and the CPU's
 * host communicator (threads of one process) cannot: on the CPU only layouts without collectives
 * (dp replicas of a dense model) run over processes.
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
    if (p.device === 'cpu' && needsCollectives(spec, layout)) {
      const allowed = 'over CPU processes, dp replicas (tp 1) of a dense model, which exchange nothing; any layout in one CPU process, its threads the ranks; over processes with collectives, CUDA devices (NCCL)';
      throw new InvalidArgumentError(`layout: tp ${layout.tp}, ep ${layout.ep}, dp ${layout.dp} of ${spec.name} over ${processes} CPU processes needs collectives between the processes, which the CPU's host communicator cannot make (allowed: ${allowed})`, {
        field: layout.tp > 1 ? 'tp' : 'dp', allowed,
      });
    }
    return;
  }
  if (p.device === 'cpu' || layout.simulated) return;
  if (world > p.gpus) {
    refuse(layout.tp > 1 ? 'tp' : 'dp', layout.tp > 1 ? layout.tp : layout.dp, `tp × dp at most the ${p.gpus} GPU${p.gpus === 1 ? '' : 's'} here (tp × dp = ${world} ranks, one GPU each); simulateWorld estimates a larger world on one GPU`);
  }
}

/** Bytes of the ids a launch's processes join their groups by: a 128-byte NCCL unique id per group, dp + tp groups. */
export function processIdBytes(layout: ParallelLayout): number {
  return (layout.dp + layout.tp) * 128;
}

/**
 * The engine's layout on the wire: the whole layout in one process (its ranks threads; simulated:
 * rank 0 alone); in a launch's process, this process's rank of it, with the ids rank 0 handed out.
 */
export function engineParallel(layout: ParallelLayout, launch: LaunchRanks, ids?: Buffer): NativeParallel {
  const { tp, ep, dp } = layout;
  if (launch.world > 1) {
    if (!ids) throw new InternalError('engineParallel: a launch\'s process needs the ids of its rendezvous');
    return { tp, ep, dp, simulate: false, process: { rank: launch.rank, world: launch.world, ids } };
  }
  return { tp, ep, dp, simulate: layout.simulated };
}

/** DP groups one engine runs, each its own batch: the layout's dp in one process; 1 in a launch's process (its own group) or simulated. */
export function engineGroups(layout: ParallelLayout, launch: LaunchRanks): number {
  return launch.world > 1 || layout.simulated ? 1 : layout.dp;
}

/**
 * Rank 0's shard as a ModelSpec, priced by the cost model as a model of its own (the parallel
 * floor; docs/design.md section 12), as native/core/layout.cc shards it: attention heads over tp
 * (GQA's KV heads too, or one where tp exceeds them; MLA's latent projections and cache whole), the
 * dense MLP over tp; the embedding, the LM head and the norms whole (replicated). The MoE block sees
 * every DP group's tokens (dp·T) and splits over all tp × dp ranks; over the shard's own T tokens
 * that is topK · dp / ep routed slots per token on its numExperts / ep experts of width
 * expert · ep / (tp · dp) (the same flops, experts hit and expert bytes as rank 0 has), and the
 * shared expert's width / (tp · dp) on dp·T tokens is width / tp on T (the same flops; its bytes
 * counted dp times). The router counts its shard's experts (every rank runs the whole router).
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

/** Of the expert counts of every token (all experts), those of rank 0's experts: the first numExperts / ep. */
export function shardExpertCounts(counts: readonly number[], spec: ModelSpec, layout: ParallelLayout): number[] {
  if (!spec.moe || layout.ep === 1) return [...counts];
  return counts.slice(0, spec.moe.numExperts / layout.ep);
}
