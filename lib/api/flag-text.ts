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

export const integerList: FlagText<number[]> = (text) => {
  const values = text.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : NaN));
  if (values.some((v) => !Number.isSafeInteger(v) || v < 1)) throw new FlagTextError('positive integers, comma-separated');
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
