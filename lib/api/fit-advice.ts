// "Does not fit", with the part that does not fit and the options that help: the weights (fewer
// layers), the activations of the largest forward (a smaller batch or input length, fewer layers),
// or the KV cache (the kvPoolTokens cap, else a smaller batch or shorter sequences). Messages name
// the API's options in backquotes (`layers`), which the CLI swaps for their flags.
import type { Mode } from '../bridge/native.js';
import type { OptionName } from './option-table.js';
import type { GridPoint } from './options.js';
import { pointContext } from './plan.js';

export type FitPart = 'weights' | 'activations' | 'kv';

/** Marks where a message's advice starts: what follows names options only. */
export const ADVICE_MARK = '; what helps: ';

/** The part a native "does not fit" message is about (its first words, native/engine/model_runner.cc). */
export function fitPartOf(message: string): FitPart | undefined {
  if (/^the weights do not fit/.test(message)) return 'weights';
  if (/^the activations do not fit/.test(message)) return 'activations';
  if (/^the KV cache does not fit|does not fit the KV cache|KV pool exhausted/.test(message)) return 'kv';
  return undefined;
}

/** KV tokens a point needs: every request's context rounded up to whole blocks. */
export function kvTokensOf(p: GridPoint, mode: Mode, drafts: number, blockSize: number): number {
  return p.batchSize * Math.ceil(pointContext(p, mode, drafts) / blockSize) * blockSize;
}

export interface FitContext {
  /** The kvPoolTokens option, when given. */
  kvPoolTokens: number | undefined;
  /** KV tokens the grid's largest point needs. */
  gridKvTokens: number;
}

/** An option's name as messages quote it. */
export const opt = (name: OptionName) => `\`${name}\``;

/** The advice for a part that does not fit, naming options. */
export function fitAdvice(part: FitPart, ctx: FitContext): string {
  switch (part) {
    case 'weights':
      return `fewer layers (${opt('layers')}) or a device with more memory`;
    case 'activations':
      return `a smaller ${opt('batchSizes')} or ${opt('inputLens')} (the largest forward), or fewer layers (${opt('layers')})`;
    case 'kv':
      return ctx.kvPoolTokens !== undefined && ctx.kvPoolTokens < ctx.gridKvTokens
        ? `${opt('kvPoolTokens')} of at least ${ctx.gridKvTokens} (the grid's largest point needs that many)`
        : `a smaller ${opt('batchSizes')}, ${opt('inputLens')} or ${opt('outputLens')}, or fewer layers (${opt('layers')})`;
  }
}

/** The message with its advice appended, when it is a "does not fit" whose part is known. */
export function withFitAdvice(message: string, ctx: FitContext): string {
  const part = fitPartOf(message);
  return part === undefined || message.includes(ADVICE_MARK) ? message : message + ADVICE_MARK + fitAdvice(part, ctx);
}

/** kvPoolTokens below what the grid needs: said once, before any point runs. */
export function kvPoolNote(ctx: FitContext): string | undefined {
  if (ctx.kvPoolTokens === undefined || ctx.kvPoolTokens >= ctx.gridKvTokens) return undefined;
  return `${opt('kvPoolTokens')} ${ctx.kvPoolTokens} is below the ${ctx.gridKvTokens} KV tokens the grid's largest point needs: points that need more fail`;
}
