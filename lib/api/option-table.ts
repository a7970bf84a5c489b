// Every option of benchOneBatch and sweep, declared once: its zod schema (which gives its type), its
// default, what it allows in the words of the error message, and, where the CLI has one, its flag
// (name, help, how its text is read). lib/api/options.ts derives the schemas, the option types, the
// defaults and the error messages from this table; lib/cli/ derives its flags and FLAG_OF from it.
import { z } from 'zod';
import type { NativeAddon } from '../bridge/native.js';
import { MOE_ROUTING_ALLOWED, isMoeRouting } from '../model/moe-routing.js';
import { MTP_ACCEPT_ALLOWED } from '../model/mtp.js';
import { MLA_FORMS } from '../model/mla-spec.js';
import type { PointOutcome } from './result.js';
import type { ProgressEvent } from './options.js';
import { anyText, integer, integerRanges, matching, oneOf, positiveNumber, type FlagText } from './flag-text.js';

export const MODES = ['prefill', 'decode', 'both'] as const;
export const PROFILES = ['none', 'prefill', 'decode', 'both'] as const;
const DEVICE = /^(auto|cpu|cuda(:\d+)?)$/;

export interface FlagDecl {
  /** '--batch'; with negate, the flag that turns a default-true option off ('--no-graphs'). */
  name: string;
  /** The value's placeholder in the help ('<list>'); absent for a negated boolean. */
  arg?: string;
  help: string;
  /** Reads the flag's text; absent for a negated boolean. */
  text?: FlagText<unknown>;
  /** The help shows the option's default (and the CLI passes it as the flag's text). */
  showDefault?: true;
  negate?: true;
}

export interface OptionDecl<T = unknown> {
  schema: z.ZodType<T>;
  /** What the option accepts, in the words of its error message. */
  allowed: string;
  default?: T;
  required?: true;
  /** Options of one entry point only: the single point (bench) or the grid (sweep). */
  only?: 'bench' | 'sweep';
  flag?: FlagDecl;
}

/** An entry, keeping its literal fields (required, only, default) in its type. */
function option<T, const D extends Omit<OptionDecl<T>, 'schema'>>(schema: z.ZodType<T>, decl: D): D & { schema: z.ZodType<T> } {
  return { ...decl, schema };
}

const posInt = z.number().int().positive();
const posIntList = z.array(posInt).min(1);
const fn = <F>() => z.custom<F>((v) => typeof v === 'function');
const LIST = 'a non-empty list of positive integers';
/** measurePeaks' timed calls of one peak (bridge/native.ts PeakCalls). */
const peakCalls = z.object({
  warmup: z.number().int().min(0),
  count: z.number().int().positive(),
  minMs: z.number().min(0),
  medianMs: z.number().min(0),
  maxMs: z.number().min(0),
});

/** In the order of the unknown-option message. */
export const OPTIONS = {
  /** A preset name, a path to a config.json (or its folder), a config.json object or a ModelSpec. */
  model: option(z.custom<string | object>((v) => (typeof v === 'string' && v !== '') || (typeof v === 'object' && v !== null && !Array.isArray(v))), {
    allowed: 'a preset name, a config.json path or a config object',
    required: true,
    flag: { name: '--model', arg: '<name|path>', help: 'preset name, config.json or its folder (default: tiny-llama on CPU, llama-3.1-8b on CUDA)', text: anyText },
  }),
  /** 'auto' (a CUDA device when there is one, else the CPU), 'cpu', 'cuda' or 'cuda:N'. */
  device: option(z.string().regex(DEVICE), {
    allowed: "'auto', 'cpu', 'cuda' or 'cuda:N'",
    default: 'auto',
    flag: { name: '--device', arg: '<device>', help: 'auto | cpu | cuda | cuda:N', text: matching((t) => DEVICE.test(t), 'auto, cpu, cuda, cuda:N'), showDefault: true },
  }),
  batchSize: option(posInt, { allowed: 'a positive integer', required: true, only: 'bench' }),
  inputLen: option(posInt, { allowed: 'a positive integer', required: true, only: 'bench' }),
  outputLen: option(posInt, { allowed: 'a positive integer', required: true, only: 'bench' }),
  // The grid: the product batchSizes × inputLens × outputLens (all three required), or `points`.
  batchSizes: option(posIntList, {
    allowed: LIST, only: 'sweep',
    flag: { name: '--batch', arg: '<list>', help: 'batch sizes: a list and/or ranges, e.g. 1,2,4 or 1-64*2 (default: per device, below)', text: integerRanges },
  }),
  inputLens: option(posIntList, {
    allowed: LIST, only: 'sweep',
    flag: { name: '--input-len', arg: '<list>', help: 'input lengths, e.g. 128,1024 or 128-1024+128 (default: per device, below)', text: integerRanges },
  }),
  outputLens: option(posIntList, {
    allowed: LIST, only: 'sweep',
    flag: { name: '--output-len', arg: '<list>', help: 'output lengths, e.g. 32 (default: per device, below)', text: integerRanges },
  }),
  /** The grid as explicit points (e.g. zipped lists), instead of the three lists. */
  points: option(z.array(z.strictObject({ batchSize: posInt, inputLen: posInt, outputLen: posInt })).min(1), {
    allowed: 'a non-empty list of { batchSize, inputLen, outputLen } (positive integers), instead of batchSizes, inputLens and outputLens',
    only: 'sweep',
    // A file whose missing dimensions come from the list flags: lib/cli/run.ts reads it (api/grid-file.ts).
    flag: { name: '--grid', arg: '<file>', help: 'the grid from a JSON or YAML file: lists (a product), zipped lists or points (README, Grid files; default: none, the list flags)' },
  }),
  /**
   * Grid points not to run (a resumed sweep's points already measured): left out of the result and
   * of the engine's sizing. In prefill mode they name output length 1, as the points that run do;
   * points the grid does not hold are ignored.
   */
  skipPoints: option(z.array(z.strictObject({ batchSize: posInt, inputLen: posInt, outputLen: posInt })), {
    allowed: 'a list of { batchSize, inputLen, outputLen }, each a positive integer', only: 'sweep',
  }),
  mode: option(z.enum(MODES), {
    allowed: MODES.join(', '),
    default: 'both',
    flag: { name: '--mode', arg: '<mode>', help: 'decode | prefill | both', text: oneOf(MODES), showDefault: true },
  }),
  /** Seed of the dummy weights and the prompts. */
  seed: option(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), {
    allowed: 'an integer in [0, 2^53)',
    default: 42,
    flag: { name: '--seed', arg: '<n>', help: 'seed of the dummy weights and the prompts', text: integer(0), showDefault: true },
  }),
  /** Replaces num_hidden_layers. */
  layers: option(posInt, {
    allowed: 'a positive integer',
    flag: { name: '--layers', arg: '<n>', help: "replace num_hidden_layers (default: the model's)", text: integer(1) },
  }),
  /** Real weights (.safetensors file or folder); dummy weights when absent. */
  weightsPath: option(z.string().min(1), {
    allowed: 'a path to a .safetensors file or a folder of them',
    flag: { name: '--weights', arg: '<path>', help: 'real weights: a .safetensors file or a folder of them (default: dummy weights from --seed)', text: anyText },
  }),
  /** Names the run in reports and trace files; defaults to the model's name. */
  runName: option(z.string().min(1), {
    allowed: 'a non-empty string',
    flag: { name: '--run-name', arg: '<name>', help: 'names the run in reports and trace files (default: the model name)', text: anyText },
  }),
  profile: option(z.enum(PROFILES), {
    allowed: PROFILES.join(', '),
    default: 'none',
    flag: { name: '--profile', arg: '<what>', help: 'none | prefill | decode | both: write Chrome traces of the profiled pass', text: oneOf(PROFILES), showDefault: true },
  }),
  profileDecodeSteps: option(posInt, {
    allowed: 'a positive integer',
    default: 4,
    flag: { name: '--profile-decode-steps', arg: '<n>', help: 'decode steps the profiled pass covers (default 4)', text: integer(1) },
  }),
  /** Where trace files go. */
  outDir: option(z.string().min(1), {
    allowed: 'a folder path',
    default: 'out',
    flag: { name: '--out-dir', arg: '<dir>', help: 'where trace files go', text: anyText, showDefault: true },
  }),
  useGraphs: option(z.boolean(), {
    allowed: 'true or false',
    default: true,
    flag: { name: '--no-graphs', help: 'decode steps run eagerly instead of replaying CUDA graphs (default: graphs where the backend has them)', negate: true },
  }),
  batchTimeoutMs: option(z.number().positive().finite(), {
    allowed: 'a positive number of milliseconds',
    default: 10_000,
    flag: { name: '--batch-timeout-ms', arg: '<n>', help: 'how long the scheduler waits for a full batch', text: integer(1), showDefault: true },
  }),
  /** MoE routing policy (README, Mixture-of-experts models): 'balanced' (default), 'uniform', 'zipf:<s>', 'real'. Dense models ignore it. */
  moeRouting: option(z.string().refine(isMoeRouting), {
    allowed: MOE_ROUTING_ALLOWED,
    default: 'balanced',
    flag: {
      name: '--moe-routing', arg: '<policy>', help: 'MoE models: balanced | uniform | zipf:<s> | real (which experts each token uses)',
      text: matching(isMoeRouting, MOE_ROUTING_ALLOWED), showDefault: true,
    },
  }),
  /**
   * MTP draft tokens per decode step (0, the default: off); needs a model with MTP layers
   * (deepseek_v3). Each step then verifies 1 + mtpDrafts tokens per request; output_len still counts
   * steps, and decode throughput counts the tokens accepted.
   */
  mtpDrafts: option(z.number().int().min(0), {
    allowed: 'a non-negative integer (0: MTP off)',
    default: 0,
    flag: { name: '--mtp-drafts', arg: '<k>', help: 'MTP models (deepseek_v3): draft K tokens per decode step with the MTP layer and verify them (default 0: off)', text: integer(0) },
  }),
  /** Pinned acceptance of the drafts (README, DeepSeek: MLA and multi-token prediction): 'all' (default), N (0..mtpDrafts) or { rate } in [0, 1]. */
  mtpAccept: option(z.union([z.literal('all'), z.number().int().min(0), z.strictObject({ rate: z.number().min(0).max(1) })]), {
    allowed: MTP_ACCEPT_ALLOWED,
    // Its text depends on --mtp-drafts and has a second spelling (--mtp-accept-rate): lib/cli/mtp-flags.ts reads it.
    flag: { name: '--mtp-accept', arg: '<n>', help: 'MTP: drafts accepted per step: all (default) or N in [0, K]' },
  }),
  /**
   * MLA models (deepseek): the form prefill steps run in (docs/design.md, "MLA: absorbed and
   * decompressed"); decode steps always run absorbed. Other models ignore it.
   */
  mlaPrefill: option(z.enum(MLA_FORMS), {
    allowed: MLA_FORMS.join(', '),
    default: 'decompressed',
    flag: {
      name: '--mla-prefill', arg: '<form>', help: 'MLA models (deepseek): decompressed | absorbed, the form prefill runs in (decode is always absorbed)',
      text: oneOf(MLA_FORMS), showDefault: true,
    },
  }),
  /** Caps the KV pool (tokens); points that need more fail with ERR_DOES_NOT_FIT. */
  kvPoolTokens: option(posInt, {
    allowed: 'a positive integer',
    flag: { name: '--kv-pool-tokens', arg: '<n>', help: "cap the KV pool; points that need more fail with ERR_DOES_NOT_FIT (default: the grid's largest point, capped to free memory)", text: integer(1) },
  }),
  /** CPU worker threads (0: all cores). */
  threads: option(z.number().int().min(0), {
    allowed: 'a non-negative integer (0: all cores)',
    flag: { name: '--threads', arg: '<n>', help: 'CPU worker threads (default 0: all cores)', text: integer(0) },
  }),
  // The parallel layout (docs/design.md, Parallel layouts): tp × dp ranks; the EP ranks are the same
  // ranks (as in sglang), so ep divides tp × dp. lib/api/layout.ts checks a layout against the model
  // and the device before any engine opens.
  /** Tensor parallel ranks: attention heads and the MLP (column- then row-parallel) split over them. */
  tp: option(posInt, {
    allowed: 'a positive integer',
    default: 1,
    flag: { name: '--tp', arg: '<n>', help: 'tensor parallel ranks: attention heads and MLP split over n (default 1)', text: integer(1) },
  }),
  /** Expert parallel ranks (MoE models): the experts placed over them; the same ranks as tp × dp. */
  ep: option(posInt, {
    allowed: 'a positive integer',
    default: 1,
    flag: { name: '--ep', arg: '<n>', help: 'expert parallel ranks (MoE models): experts placed over n of the tp × dp ranks (default 1)', text: integer(1) },
  }),
  /** Data parallel ranks: each runs its own batch (batchSizes are per DP rank); MoE models share the MoE (DP attention). */
  dp: option(posInt, {
    allowed: 'a positive integer',
    default: 1,
    flag: { name: '--dp', arg: '<n>', help: 'data parallel ranks, each with its own batch: --batch is per DP rank (MoE models: DP attention) (default 1)', text: integer(1) },
  }),
  /** An estimate: rank 0's shard runs alone and the collectives' time is added from busBandwidth; tp × dp. */
  simulateWorld: option(z.number().int().min(2), {
    allowed: "an integer >= 2, the layout's tp × dp",
    flag: {
      name: '--simulate-world', arg: '<n>',
      help: "estimate a world of n = tp × dp ranks on one device: rank 0's shard runs, the collectives' time is added from --bus-bandwidth (results marked estimates; default: off)",
      text: integer(2),
    },
  }),
  /**
   * Bus bandwidth of the collectives in GB/s (nccl-tests' busbw): the comm time of estimates and of
   * parallel floors. Default: the all-reduce bus bandwidth the engine measures with its own
   * communicator (a world > 1, in one process or a launch's over NCCL: docs/design.md section 4);
   * a simulated world, and a launch of dense DP replicas, have none to measure.
   */
  busBandwidth: option(z.number().positive().finite(), {
    allowed: 'a positive number of GB/s',
    flag: { name: '--bus-bandwidth', arg: '<GB/s>', help: "collectives' bus bandwidth as nccl-tests reports it (busbw): the comm time of --simulate-world and of parallel floors (default: measured by the run with its own communicator; --simulate-world needs it)", text: positiveNumber },
  }),
  /** Use these peaks instead of measuring them (saves the measurement; floors, MFU, MBU use them). */
  peaks: option(
    z.object({
      flopsPerS: z.number().positive(),
      bytesPerS: z.number().positive(),
      // measurePeaks' timed calls, kept so that the results record them
      copyCalls: peakCalls.optional(),
      gemmCalls: peakCalls.optional(),
    }),
    { allowed: '{ flopsPerS, bytesPerS }, both positive (copyCalls, gemmCalls: the timed calls, optional)' },
  ),
  signal: option(z.instanceof(AbortSignal), { allowed: 'an AbortSignal' }),
  onProgress: option(fn<(p: ProgressEvent) => void>(), { allowed: 'a function' }),
  /** Called with each point's outcome as it finishes (before the sweep's promise settles). */
  onPoint: option(fn<(result: PointOutcome) => void>(), { allowed: 'a function', only: 'sweep' }),
  /** A loaded addon to use instead of build/Release or prebuilds/ (tests, custom builds). */
  addon: option(z.custom<NativeAddon>((v) => typeof v === 'object' && v !== null && 'Engine' in v), { allowed: 'a loaded gpubench addon' }),
} satisfies Record<string, OptionDecl>;

export type OptionTable = typeof OPTIONS;
export type OptionName = keyof OptionTable;
