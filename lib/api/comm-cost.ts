// The collectives of one forward of a parallel layout and their time at a bus bandwidth
// (docs/design.md, Parallel floors). Bus bandwidth is nccl-tests' busbw: an all-reduce of S bytes over
// n ranks takes S · 2(n−1)/n / busbw, an all-gather or a reduce-scatter whose whole (gathered or
// reduced) size is S takes S · (n−1)/n / busbw. So a measured busbw, or one a user gives, prices any
// collective of any size and rank count; latency is left out, as a floor leaves it out.
import type { ModelSpec } from '../model/model-spec.js';
import { floorMs, type Cost, type Peaks } from './metrics.js';
import { ffnRanks, type ParallelLayout } from './layout.js';

export type Collective = 'all_reduce' | 'all_gather' | 'reduce_scatter';

export interface CollectiveCall {
  op: Collective;
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
 * The collectives of one forward of `tokens` tokens per DP rank (B·L in a prefill, B·(1+drafts) in a
 * decode step), activations of bytesPerElem bytes:
 * - TP: an all-reduce of tokens·hidden after the attention's o_proj and after the FFN's down
 *   projection (or the MoE's combine: EP's ranks are TP's, so the MoE output is all-reduced too),
 *   per layer, over tp ranks;
 * - DP attention (an MoE model with dp > 1): each FFN block takes every DP rank's tokens, an
 *   all-gather of dp·tokens·hidden before it and a reduce-scatter of the same after it, over tp × dp
 *   ranks, in place of the FFN's all-reduce;
 * - a dense model's DP ranks are replicas: nothing.
 * The main model's layers only (MTP drafts and the LM head's logits are not counted).
 */
export function forwardCollectives(spec: ModelSpec, layout: ParallelLayout, tokens: number, bytesPerElem: number): CollectiveCall[] {
  const act = tokens * spec.hiddenSize * bytesPerElem;
  const layers = spec.numLayers;
  const calls: CollectiveCall[] = [];
  if (layout.tp > 1) calls.push({ op: 'all_reduce', bytes: act, ranks: layout.tp, calls: layers, site: 'attention output (o_proj)' });
  const ffn = ffnRanks(spec, layout);
  if (ffn !== layout.tp) {
    const gathered = act * layout.dp;
    calls.push({ op: 'all_gather', bytes: gathered, ranks: ffn, calls: layers, site: 'DP attention: tokens into the FFN' });
    calls.push({ op: 'reduce_scatter', bytes: gathered, ranks: ffn, calls: layers, site: 'DP attention: FFN output back to its DP rank' });
  } else if (ffn > 1) {
    calls.push({ op: 'all_reduce', bytes: act, ranks: ffn, calls: layers, site: spec.moe ? 'FFN output (MLP down, MoE combine)' : 'MLP output (down)' });
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
