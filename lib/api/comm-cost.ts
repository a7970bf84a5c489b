// The collectives of one forward of a parallel layout and their time at a bus bandwidth
// (docs/design.md, Parallel floors). Bus bandwidth is nccl-tests' busbw: an all-reduce of S bytes over
// n ranks takes S · 2(n−1)/n / busbw, an all-gather or a reduce-scatter whose whole (gathered or
// reduced) size is S takes S · (n−1)/n / busbw. So a measured busbw, or one a user gives, prices any
// collective of any size and rank count; latency is left out, as a floor leaves it out.
import type { ModelSpec } from '../model/model-spec.js';
import { floorMs, type Cost, type Peaks } from './metrics.js';
import { layerKinds } from '../model/params.js';
import type { ParallelLayout } from './layout.js';

export type Collective = 'all_reduce' | 'all_gather' | 'reduce_scatter';

export interface CollectiveCall {
  op: Collective;
  /** The op as the profiled pass names it (native/model/). */
  name: string;
  /** nccl-tests' size: the all-reduced buffer, or the whole that is gathered or reduce-scattered. */
  bytes: number;
  /** Ranks taking part. */
  ranks: number;
  /** Calls per forward. */
  calls: number;
  /** What it joins, in words. */
  site: string;
}

/** The bytes each rank moves per byte of the collective's size, over the bus (nccl-tests' factor). */
export function busFactor(op: Collective, ranks: number): number {
  const share = (ranks - 1) / ranks;
  return op === 'all_reduce' ? 2 * share : share;
}

/** Seconds of one collective of `bytes` over `ranks` ranks at `busBytesPerS`. */
export function collectiveSeconds(op: Collective, bytes: number, ranks: number, busBytesPerS: number): number {
  return (bytes * busFactor(op, ranks)) / busBytesPerS;
}

/**
 * The collectives of one forward of `tokens` tokens per DP group (B·L in a prefill, B·(1+drafts) in
 * a decode step), activations of bytesPerElem bytes, as the sharded forward pass calls them
 * (docs/design.md section 8, the table of collectives):
 * - `all_reduce.o_proj` after every layer's attention, over the tp ranks of the DP group;
 * - `all_reduce.mlp` after every dense MLP (a dense model's layers, an MoE model's dense layers),
 *   over the tp ranks: a dense layer is split within its DP group, whatever dp is;
 * - after every MoE block, with dp = 1 `all_reduce.moe` over the tp (= all) ranks; with dp > 1
 *   (DP attention) `all_gather.moe` of every group's tokens before the block and `reduce_scatter.moe`
 *   after it, over the dp ranks with the same TP rank, and between them `all_reduce.moe` of the dp·T
 *   rows over the tp ranks of the group (none at tp = 1).
 * A layout of one rank, and dp replicas of a dense model, call none. The main model's layers only
 * (the MTP module's draft forwards are not counted).
 */
export function forwardCollectives(spec: ModelSpec, layout: ParallelLayout, tokens: number, bytesPerElem: number): CollectiveCall[] {
  const { tp, dp } = layout;
  const act = tokens * spec.hiddenSize * bytesPerElem;
  const { moe, dense } = layerKinds(spec);
  const calls: CollectiveCall[] = [];
  const add = (op: Collective, name: string, bytes: number, ranks: number, layers: number, site: string) => {
    if (ranks > 1 && layers > 0) calls.push({ op, name, bytes, ranks, calls: layers, site });
  };
  add('all_reduce', 'all_reduce.o_proj', act, tp, spec.numLayers, "attention output (o_proj), the DP group's tp ranks");
  add('all_reduce', 'all_reduce.mlp', act, tp, dense, "dense MLP output (down), the DP group's tp ranks");
  if (dp > 1) {
    add('all_gather', 'all_gather.moe', act * dp, dp, moe, 'DP attention: every group\'s tokens into the MoE block, the dp ranks of a TP rank');
    add('all_reduce', 'all_reduce.moe', act * dp, tp, moe, "MoE output of every group's tokens, the DP group's tp ranks");
    add('reduce_scatter', 'reduce_scatter.moe', act * dp, dp, moe, 'DP attention: the MoE output back to its group, the dp ranks of a TP rank');
  } else {
    add('all_reduce', 'all_reduce.moe', act, tp, moe, 'MoE output (experts and shared expert), all ranks');
  }
  return calls;
}

export interface CommCost {
  /** Σ calls × size: the collectives' sizes in one forward. */
  bytes: number;
  /** Their time at the bus bandwidth; null without one (0 when nothing moves). */
  ms: number | null;
}

export function commCost(calls: readonly CollectiveCall[], busBytesPerS: number | null): CommCost {
  const bytes = calls.reduce((s, c) => s + c.calls * c.bytes, 0);
  if (busBytesPerS === null) return { bytes, ms: bytes === 0 ? 0 : null };
  const seconds = calls.reduce((s, c) => s + c.calls * collectiveSeconds(c.op, c.bytes, c.ranks, busBytesPerS), 0);
  return { bytes, ms: seconds * 1000 };
}

/** A parallel step's floor: rank 0's shard's roofline floor plus its collectives at the bus bandwidth. */
export function parallelFloorMs(shardCost: Cost, peaks: Peaks, commMs: number | null): number {
  return floorMs(shardCost, peaks) + (commMs ?? 0);
}

/** GB/s (the option's unit, nccl-tests') → bytes/s. */
export const busBytesPerS = (gbPerS: number): number => gbPerS * 1e9;
