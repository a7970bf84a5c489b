// Options of benchOneBatch and sweep: one zod schema each, defaults applied in one place, and a
// one-line InvalidArgumentError that names the option and what it allows (the CLI maps the option
// name to its flag). Device 'auto' stays 'auto' here; lib/device.ts resolves it against the addon.
import { z } from 'zod';
import type { Mode, NativeAddon, NativeProgress, ProfileWhat } from './native.js';
import type { Peaks } from './metrics.js';
import type { PointOutcome } from './result.js';
import { InvalidArgumentError } from './errors.js';
import { MTP_ACCEPT_ALLOWED, type MtpAccept } from './mtp.js';

export type { Mode, ProfileWhat };
export const MODES: readonly Mode[] = ['prefill', 'decode', 'both'];
export const PROFILES: readonly ProfileWhat[] = ['none', 'prefill', 'decode', 'both'];

/** One grid point. */
export interface GridPoint {
  batchSize: number;
  inputLen: number;
  outputLen: number;
}

export interface ProgressEvent {
  point: GridPoint;
  pointIndex: number;
  pointCount: number;
  phase: NativeProgress['phase'];
  step: number;
  totalSteps: number;
}

export const DEFAULTS = {
  device: 'auto',
  mode: 'both' as Mode,
  seed: 42,
  profile: 'none' as ProfileWhat,
  profileDecodeSteps: 4,
  outDir: 'out',
  useGraphs: true,
  batchTimeoutMs: 10_000,
  moeRouting: 'balanced',
};

/** The MoE routing policies of DESIGN.md section 4, in the words of the error message. */
export const MOE_ROUTING_ALLOWED = 'balanced, uniform, zipf:<s> with s > 0, real';

/** Whether `text` is a routing policy: balanced | uniform | zipf:<s> (s > 0) | real. */
export function isMoeRouting(text: string): boolean {
  if (text === 'balanced' || text === 'uniform' || text === 'real') return true;
  const m = /^zipf:(.+)$/.exec(text);
  if (!m || !/^[0-9.eE+-]+$/.test(m[1] as string)) return false;
  const s = Number(m[1]);
  return Number.isFinite(s) && s > 0;
}

// What each option accepts, in the words of the error message.
export const ALLOWED: Record<string, string> = {
  model: 'a preset name, a config.json path or a config object',
  device: "'auto', 'cpu', 'cuda' or 'cuda:N'",
  batchSize: 'a positive integer',
  inputLen: 'a positive integer',
  outputLen: 'a positive integer',
  batchSizes: 'a non-empty list of positive integers',
  inputLens: 'a non-empty list of positive integers',
  outputLens: 'a non-empty list of positive integers',
  mode: MODES.join(', '),
  seed: 'an integer in [0, 2^53)',
  layers: 'a positive integer',
  weightsPath: 'a path to a .safetensors file or a folder of them',
  runName: 'a non-empty string',
  profile: PROFILES.join(', '),
  profileDecodeSteps: 'a positive integer',
  outDir: 'a folder path',
  useGraphs: 'true or false',
  batchTimeoutMs: 'a positive number of milliseconds',
  moeRouting: MOE_ROUTING_ALLOWED,
  mtpDrafts: 'a non-negative integer (0: MTP off)',
  mtpAccept: MTP_ACCEPT_ALLOWED,
  kvPoolTokens: 'a positive integer',
  threads: 'a non-negative integer (0: all cores)',
  peaks: '{ flopsPerS, bytesPerS }, both positive',
  signal: 'an AbortSignal',
  onProgress: 'a function',
  onPoint: 'a function',
  addon: 'a loaded gpubench addon',
};

const posInt = z.number().int().positive();
const posIntList = z.array(posInt).min(1);
const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function');
const peakCalls = z.object({
  warmup: z.number().int().min(0), count: z.number().int().positive(),
  minMs: z.number().min(0), medianMs: z.number().min(0), maxMs: z.number().min(0),
});

const common = {
  model: z.union([z.string().min(1), z.looseObject({})]),
  device: z.string().regex(/^(auto|cpu|cuda(:\d+)?)$/).default(DEFAULTS.device),
  mode: z.enum(['prefill', 'decode', 'both']).default(DEFAULTS.mode),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(DEFAULTS.seed),
  layers: posInt.optional(),
  weightsPath: z.string().min(1).optional(),
  runName: z.string().min(1).optional(),
  profile: z.enum(['none', 'prefill', 'decode', 'both']).default(DEFAULTS.profile),
  profileDecodeSteps: posInt.default(DEFAULTS.profileDecodeSteps),
  outDir: z.string().min(1).default(DEFAULTS.outDir),
  useGraphs: z.boolean().default(DEFAULTS.useGraphs),
  batchTimeoutMs: z.number().positive().finite().default(DEFAULTS.batchTimeoutMs),
  moeRouting: z.string().refine(isMoeRouting).default(DEFAULTS.moeRouting),
  mtpDrafts: z.number().int().min(0).default(0),
  mtpAccept: z.union([z.literal('all'), z.number().int().min(0), z.strictObject({ rate: z.number().min(0).max(1) })]).optional(),
  /** Caps the KV pool (tokens); points that need more fail with ERR_DOES_NOT_FIT. */
  kvPoolTokens: posInt.optional(),
  /** CPU worker threads (0: all cores). */
  threads: z.number().int().min(0).optional(),
  /** Use these peaks instead of measuring them (saves the measurement; floors, MFU, MBU use them). */
  peaks: z
    .object({
      flopsPerS: z.number().positive(),
      bytesPerS: z.number().positive(),
      // measurePeaks' timed calls, kept so that the results record them
      copyCalls: peakCalls.optional(),
      gemmCalls: peakCalls.optional(),
    })
    .optional(),
  signal: z.instanceof(AbortSignal).optional(),
  onProgress: fn.optional(),
  /** A loaded addon to use instead of build/Release or prebuilds/ (tests, custom builds). */
  addon: z.custom<NativeAddon>((v) => typeof v === 'object' && v !== null && 'Engine' in v).optional(),
};

const BenchSchema = z.strictObject({ ...common, batchSize: posInt, inputLen: posInt, outputLen: posInt });
const SweepSchema = z.strictObject({
  ...common,
  batchSizes: posIntList,
  inputLens: posIntList,
  outputLens: posIntList,
  onPoint: fn.optional(),
});

interface CommonOptions {
  /** A preset name, a path to a config.json (or its folder), a config.json object or a ModelSpec. */
  model: string | object;
  device?: string;
  mode?: Mode;
  seed?: number;
  /** Replaces num_hidden_layers. */
  layers?: number;
  /** Real weights (.safetensors file or folder); dummy weights when absent. */
  weightsPath?: string;
  /** Names the run in reports and trace files; defaults to the model's name. */
  runName?: string;
  profile?: ProfileWhat;
  profileDecodeSteps?: number;
  /** Where trace files go. */
  outDir?: string;
  useGraphs?: boolean;
  batchTimeoutMs?: number;
  /** MoE routing policy (DESIGN.md section 4): 'balanced' (default), 'uniform', 'zipf:<s>', 'real'. Dense models ignore it. */
  moeRouting?: string;
  /**
   * MTP draft tokens per decode step (0, the default: off); needs a model with MTP layers
   * (deepseek_v3). Each step then verifies 1 + mtpDrafts tokens per request; output_len still counts
   * steps, and decode throughput counts the tokens accepted.
   */
  mtpDrafts?: number;
  /** Pinned acceptance of the drafts (DESIGN.md section 4): 'all' (default), N (0..mtpDrafts) or { rate } in [0, 1]. */
  mtpAccept?: MtpAccept;
  kvPoolTokens?: number;
  threads?: number;
  peaks?: Peaks;
  signal?: AbortSignal;
  onProgress?: (p: ProgressEvent) => void;
  addon?: NativeAddon;
}

export interface BenchOptions extends CommonOptions {
  batchSize: number;
  inputLen: number;
  outputLen: number;
}

export interface SweepOptions extends CommonOptions {
  batchSizes: number[];
  inputLens: number[];
  outputLens: number[];
  /** Called with each point's outcome as it finishes (before the sweep's promise settles). */
  onPoint?: (result: PointOutcome) => void;
}

type Resolved<T, K extends keyof T> = Omit<T, K> & Required<Pick<T, K>>;
type DefaultedKeys =
  | 'device' | 'mode' | 'seed' | 'profile' | 'profileDecodeSteps' | 'outDir' | 'useGraphs' | 'batchTimeoutMs' | 'moeRouting' | 'mtpDrafts';
export type ResolvedSweepOptions = Resolved<SweepOptions, DefaultedKeys>;

function show(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v === undefined) return 'missing';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function fail(error: z.ZodError, input: Record<string, unknown>): never {
  const issue = error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const allowed = Object.keys(ALLOWED).join(', ');
    throw new InvalidArgumentError(`unknown option '${key}' (allowed: ${allowed})`, { field: key, allowed });
  }
  const field = String(issue?.path[0] ?? 'options');
  const allowed = ALLOWED[field] ?? 'see the docs';
  const value = input[field];
  const what = value === undefined ? 'is missing' : `${show(value)} is not allowed`;
  throw new InvalidArgumentError(`${field}: ${what} (allowed: ${allowed})`, { field, allowed });
}

function asRecord(options: unknown): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options: expected an object', { allowed: 'an object' });
  }
  return options as Record<string, unknown>;
}

/** Removes repeated values, keeping the first of each. */
function unique(xs: number[]): number[] {
  return [...new Set(xs)];
}

/** The acceptance's bounds that depend on mtpDrafts, which a schema of one field cannot check. */
function checkMtp(o: ResolvedSweepOptions): void {
  const accept = o.mtpAccept;
  if (accept === undefined) return;
  const bad = (allowed: string) => {
    throw new InvalidArgumentError(`mtpAccept: ${show(accept)} is not allowed (allowed: ${allowed})`, { field: 'mtpAccept', allowed });
  };
  if (o.mtpDrafts === 0) bad('absent when mtpDrafts is 0 (MTP off)');
  if (typeof accept === 'number' && accept > o.mtpDrafts) bad(MTP_ACCEPT_ALLOWED.replace('mtpDrafts', `${o.mtpDrafts} (mtpDrafts)`));
}

export function parseSweepOptions(options: SweepOptions): ResolvedSweepOptions {
  const input = asRecord(options);
  const r = SweepSchema.safeParse(input);
  if (!r.success) fail(r.error, input);
  const o = r.data as ResolvedSweepOptions;
  checkMtp(o);
  return { ...o, batchSizes: unique(o.batchSizes), inputLens: unique(o.inputLens), outputLens: unique(o.outputLens) };
}

/** A single point is a sweep of one: same defaults, same validation. */
export function parseBenchOptions(options: BenchOptions): ResolvedSweepOptions {
  const input = asRecord(options);
  const r = BenchSchema.safeParse(input);
  if (!r.success) fail(r.error, input);
  const { batchSize, inputLen, outputLen, ...rest } = r.data;
  const o = { ...(rest as Omit<ResolvedSweepOptions, 'batchSizes' | 'inputLens' | 'outputLens'>), batchSizes: [batchSize], inputLens: [inputLen], outputLens: [outputLen] };
  checkMtp(o);
  return o;
}

/** The Cartesian product batch × input × output, batch outermost, each list in its given order. */
export function expandGrid(batchSizes: readonly number[], inputLens: readonly number[], outputLens: readonly number[]): GridPoint[] {
  const points: GridPoint[] = [];
  for (const batchSize of batchSizes) {
    for (const inputLen of inputLens) {
      for (const outputLen of outputLens) points.push({ batchSize, inputLen, outputLen });
    }
  }
  return points;
}
