// --resume: the points of this run that the --save-jsonl file already holds measured, which the sweep
// then skips, as vLLM's benchmark sweep does. A line matches a point by pointKey (the identity the
// compare view uses: model, mode, shape, MoE routing, MTP settings, parallel layout); where the file holds a point
// twice (appended runs) its last line counts, so a point whose last try failed (ok: false) runs again.
import { existsSync, statSync } from 'node:fs';
import { pointKey, readJsonl, type GridPoint, type Mode, type ParallelLayout, type pointSettings } from '../index.js';

/** The points of `grid` whose last line in `file` (absent or empty: none) says ok, run with the same layout. */
export function measuredPoints(
  file: string, mode: Mode, settings: ReturnType<typeof pointSettings>, layout: ParallelLayout, grid: readonly GridPoint[],
): GridPoint[] {
  if (!existsSync(file) || statSync(file).size === 0) return [];
  const okOf = new Map(readJsonl(file).map((p) => [pointKey(p), p.ok]));
  const run = {
    model: settings.model, mode, moe_routing: settings.routing, mtp_drafts: settings.mtpDrafts, mtp_accept: settings.mtpAccept,
    tp: layout.tp, ep: layout.ep, dp: layout.dp,
  };
  return grid.filter((g) => okOf.get(pointKey({ ...run, batch_size: g.batchSize, input_len: g.inputLen, output_len: g.outputLen })) === true);
}
