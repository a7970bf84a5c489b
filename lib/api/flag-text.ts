// Command-line text → option value, for the option table's flags. A parser returns the value or
// throws FlagTextError with what the flag allows; the CLI prefixes the flag and the text given.

export class FlagTextError extends Error {
  constructor(readonly allowed: string) {
    super(allowed);
  }
}

export type FlagText<T> = (text: string) => T;

export function integer(min: number): FlagText<number> {
  return (text) => {
    const v = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
    if (!Number.isSafeInteger(v) || v < min) throw new FlagTextError(`an integer >= ${min}`);
    return v;
  };
}

/** A positive finite number ('450', '12.5', '1e3'). */
export const positiveNumber: FlagText<number> = (text) => {
  const v = /^[0-9.eE+-]+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(v) || v <= 0) throw new FlagTextError('a positive number');
  return v;
};

/** What a list of integers and ranges allows, in the words of its error. */
export const RANGES_ALLOWED = 'positive integers and ranges first-last, first-last+step or first-last*factor, comma-separated (e.g. 1,2,8-32*2)';

/** The most values one range may give: a typo such as 1-100000 is an error, not a day-long sweep. */
export const MAX_RANGE_VALUES = 4096;

const RANGE = /^(\d+)(?:-(\d+)(?:([+*])(\d+))?)?$/;

/**
 * llama-bench's list syntax: '1,2,8-32*2' → [1, 2, 8, 16, 32]; 'a-b' steps by 1, 'a-b+s' by s,
 * 'a-b*f' multiplies by f; a range ends at the last value not above b.
 */
export const integerRanges: FlagText<number[]> = (text) => {
  const values: number[] = [];
  for (const part of text.split(',')) {
    const m = RANGE.exec(part.trim());
    if (!m) throw new FlagTextError(RANGES_ALLOWED);
    const first = Number(m[1]), last = m[2] === undefined ? undefined : Number(m[2]), op = m[3], by = Number(m[4] ?? 1);
    if (!Number.isSafeInteger(first) || first < 1) throw new FlagTextError(RANGES_ALLOWED);
    if (last === undefined) {
      values.push(first);
      continue;
    }
    const grows = op === '*' ? by >= 2 : by >= 1;
    if (!Number.isSafeInteger(last) || last < first || !grows) {
      throw new FlagTextError(`${RANGES_ALLOWED}; a range needs first <= last, a step >= 1, a factor >= 2`);
    }
    const count = values.length;
    for (let v = first; v <= last; v = op === '*' ? v * by : v + by) {
      if (values.length - count >= MAX_RANGE_VALUES) throw new FlagTextError(`${RANGES_ALLOWED}; a range of at most ${MAX_RANGE_VALUES} values`);
      values.push(v);
    }
  }
  return values;
};

export function oneOf<T extends string>(allowed: readonly T[]): FlagText<T> {
  return (text) => {
    if (!(allowed as readonly string[]).includes(text)) throw new FlagTextError(allowed.join(', '));
    return text as T;
  };
}

/** Text checked by a predicate and kept as given. */
export function matching(test: (text: string) => boolean, allowed: string): FlagText<string> {
  return (text) => {
    if (!test(text)) throw new FlagTextError(allowed);
    return text;
  };
}

export const anyText: FlagText<string> = (text) => text;
