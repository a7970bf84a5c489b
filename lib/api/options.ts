// Options of benchOneBatch and sweep, derived from the option table (option-table.ts): one zod
// schema each, the option types, the defaults, and a one-line InvalidArgumentError that names the
// option and what it allows (the CLI maps the option name to its flag). Device 'auto' stays 'auto'
// here; the sweep resolves it against the addon.
import { z } from 'zod';
import type { Mode, NativeProgress, ProfileWhat } from '../bridge/native.js';
import { InvalidArgumentError } from '../base/errors.js';
import { MTP_ACCEPT_ALLOWED } from '../model/mtp.js';
import { MODES, OPTIONS, PROFILES, type OptionDecl, type OptionName, type OptionTable } from './option-table.js';
import { layoutOf } from './layout.js';

export { MOE_ROUTING_ALLOWED, isMoeRouting } from '../model/moe-routing.js';
export type { Mode, ProfileWhat };
export { MODES, PROFILES };

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

type ValueOf<K extends OptionName> = z.output<OptionTable[K]['schema']>;
type Entry = 'bench' | 'sweep';
type KeysOf<E extends Entry> = { [K in OptionName]: OptionTable[K] extends { only: infer O } ? (O extends E ? K : never) : K }[OptionName];
type RequiredKeys = { [K in OptionName]: OptionTable[K] extends { required: true } ? K : never }[OptionName];
type DefaultedKeys = { [K in OptionName]: OptionTable[K] extends { default: unknown } ? K : never }[OptionName];

type Given<E extends Entry> = { [K in KeysOf<E> & RequiredKeys]: ValueOf<K> } & { [K in Exclude<KeysOf<E>, RequiredKeys>]?: ValueOf<K> };

export interface BenchOptions extends Given<'bench'> {}
export interface SweepOptions extends Given<'sweep'> {}
export type ResolvedSweepOptions = SweepOptions & { [K in DefaultedKeys]: ValueOf<K> };

const entries = Object.entries(OPTIONS) as [OptionName, OptionDecl][];

/** The defaults of the options that have one. */
export const DEFAULTS = Object.fromEntries(entries.flatMap(([k, d]) => ('default' in d ? [[k, d.default]] : []))) as {
  [K in DefaultedKeys]: ValueOf<K>;
};

/** What each option accepts, in the words of the error message. */
export const ALLOWED: Record<string, string> = Object.fromEntries(entries.map(([k, d]) => [k, d.allowed]));

function schemaOf(entry: Entry) {
  const shape = entries.flatMap(([k, d]) => {
    if (d.only !== undefined && d.only !== entry) return [];
    const field = d.required ? d.schema : 'default' in d ? d.schema.default(d.default) : d.schema.optional();
    return [[k, field] as const];
  });
  return z.strictObject(Object.fromEntries(shape));
}

const BenchSchema = schemaOf('bench');
const SweepSchema = schemaOf('sweep');

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

const LISTS = ['batchSizes', 'inputLens', 'outputLens'] as const;

/** The grid is the three lists or `points`, never both. */
function checkGrid(o: ResolvedSweepOptions): void {
  const given = LISTS.filter((k) => o[k] !== undefined);
  if (o.points !== undefined) {
    const first = given[0];
    if (first === undefined) return;
    const allowed = 'either points or batchSizes, inputLens and outputLens';
    throw new InvalidArgumentError(`points: not allowed with ${first} (allowed: ${allowed})`, { field: 'points', allowed });
  }
  const missing = LISTS.find((k) => o[k] === undefined);
  if (missing !== undefined) {
    const allowed = ALLOWED[missing] as string;
    throw new InvalidArgumentError(`${missing}: is missing (allowed: ${allowed}; or points)`, { field: missing, allowed });
  }
}

export function parseSweepOptions(options: SweepOptions): ResolvedSweepOptions {
  const input = asRecord(options);
  const r = SweepSchema.safeParse(input);
  if (!r.success) fail(r.error, input);
  const o = r.data as unknown as ResolvedSweepOptions;
  checkMtp(o);
  layoutOf(o);
  checkGrid(o);
  if (o.points !== undefined) return { ...o, points: uniquePoints(o.points) };
  return { ...o, batchSizes: unique(o.batchSizes ?? []), inputLens: unique(o.inputLens ?? []), outputLens: unique(o.outputLens ?? []) };
}

/** A grid point's shape as one string: what repeats and skipPoints are matched by. */
export const gridPointKey = (p: GridPoint): string => `${p.batchSize}/${p.inputLen}/${p.outputLen}`;

/** Removes repeated points, keeping the first of each. */
function uniquePoints(points: readonly GridPoint[]): GridPoint[] {
  return [...new Map(points.map((p) => [gridPointKey(p), p])).values()];
}

/**
 * The points a sweep runs, in order: `points` as given, else the product of the lists; in prefill
 * mode each with output length 1 (a prefill makes one token), repeats removed.
 */
export function gridPoints(o: Pick<SweepOptions, 'batchSizes' | 'inputLens' | 'outputLens' | 'points'>, mode: Mode): GridPoint[] {
  const points = o.points ?? expandGrid(o.batchSizes ?? [], o.inputLens ?? [], o.outputLens ?? []);
  return uniquePoints(mode === 'prefill' ? points.map((p) => ({ ...p, outputLen: 1 })) : points);
}

/** A single point is a sweep of one: same defaults, same validation. */
export function parseBenchOptions(options: BenchOptions): ResolvedSweepOptions {
  const input = asRecord(options);
  const r = BenchSchema.safeParse(input);
  if (!r.success) fail(r.error, input);
  const { batchSize, inputLen, outputLen, ...rest } = r.data as unknown as BenchOptions;
  const o = { ...(rest as Omit<ResolvedSweepOptions, 'batchSizes' | 'inputLens' | 'outputLens'>), batchSizes: [batchSize], inputLens: [inputLen], outputLens: [outputLen] };
  checkMtp(o);
  layoutOf(o);
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
