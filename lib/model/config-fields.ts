// Readers of single config.json fields for the per-architecture normalizers (moe-spec.ts,
// mla-spec.ts): absent or null takes transformers' class default, a present value must have the
// right type, and a wrong one is a one-line InvalidConfigError naming the field and what it allows.
import { InvalidConfigError } from '../base/errors.js';

export type Obj = Record<string, unknown>;

/**
 * A config value as error messages quote it. Total: a config object built in code may hold what
 * JSON cannot (a BigInt, a cycle, NaN), and quoting it must not throw instead of the typed error.
 */
export function show(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'number' || typeof v === 'bigint') return typeof v === 'bigint' ? `${v}n` : String(v);
  try {
    const text = JSON.stringify(v, (_key, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
    if (text !== undefined) return text;
  } catch {
    // A cycle or a throwing toJSON: the type is all that can be said.
  }
  return `a ${typeof v}`;
}

export function fieldError(field: string, value: unknown, allowed: string): InvalidConfigError {
  return new InvalidConfigError(`config field '${field}' is ${show(value)} (allowed: ${allowed})`, { field, allowed });
}

const absent = (v: unknown) => v === undefined || v === null;

/** A positive integer field; absent or null: `fallback` (transformers' default; none: required). */
export function posInt(raw: Obj, key: string, fallback?: number): number {
  const v = raw[key];
  if (absent(v) && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw fieldError(key, v, 'a positive integer');
  return v;
}

/** A non-negative integer field; absent or null: `fallback`. */
export function nonNegInt(raw: Obj, key: string, fallback: number): number {
  const v = raw[key];
  if (absent(v)) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw fieldError(key, v, 'a non-negative integer');
  return v + 0; // -0 passes the check; + 0 makes it 0, so specs compare and serialize alike
}

/** A positive finite number field; absent or null: `fallback`. */
export function posNumber(raw: Obj, key: string, fallback: number): number {
  const v = raw[key];
  if (absent(v)) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw fieldError(key, v, 'a positive number');
  return v;
}

export function bool(raw: Obj, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (absent(v)) return fallback;
  if (typeof v !== 'boolean') throw fieldError(key, v, 'true or false');
  return v;
}

/** One of `allowed`; absent or null: `fallback`. */
export function oneOf<T extends string>(raw: Obj, key: string, allowed: readonly T[], fallback: T): T {
  const v = raw[key];
  if (absent(v)) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw fieldError(key, v, allowed.join(', '));
  return v as T;
}

/**
 * A positive integer under a name and its aliases (transformers' attribute_map: qwen3_moe's
 * num_experts is saved by transformers 5 as num_local_experts, mixtral reads num_experts as
 * num_local_experts). Two names present must agree.
 */
export function aliasedPosInt(raw: Obj, names: readonly string[], fallback?: number): number {
  const present = names.filter((n) => !absent(raw[n]));
  const [first, ...others] = present;
  if (first === undefined) return posInt(raw, names[0] as string, fallback);
  const v = posInt(raw, first, fallback);
  for (const n of others) {
    if (posInt(raw, n, fallback) !== v) throw fieldError(n, raw[n], `equal to its alias ${first} (${v})`);
  }
  return v;
}
