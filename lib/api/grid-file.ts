// Grid files (--grid): the points of a sweep in JSON or YAML, in one of three forms
// (README, Grid files):
//   product  { batch: [1, 8, "16-64*2"], input_len: "128-1024+128", output_len: [32] }   (SGLang LTP)
//   zip      { zip: { batch: [1, 8, 32], input_len: [2048, 1024, 512] } }               (RTP-LLM)
//   points   { points: [{ batch: 1, input_len: 128 }, { batch: 8, input_len: 64 }] }
// A value is an integer, a range text (flag-text.ts's integerRanges) or a list of both. A dimension
// the file does not give comes from its list flag (or the run's default), crossed with the file's
// points. Errors are one InvalidArgumentError naming the file and the field.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidArgumentError } from '../base/errors.js';
import { FlagTextError, integerRanges } from './flag-text.js';
import type { GridPoint } from './options.js';

/** A grid file's dimension names and the point field each gives. */
const DIMS = { batch: 'batchSize', input_len: 'inputLen', output_len: 'outputLen' } as const;
type Dim = keyof typeof DIMS;
type Lists = Partial<Record<'batchSizes' | 'inputLens' | 'outputLens', number[]>>;
const LIST_OF = { batchSize: 'batchSizes', inputLen: 'inputLens', outputLen: 'outputLens' } as const;

const FORMS = 'batch, input_len, output_len (a product); zip: {the same, lists of one length}; or points: [{batch, input_len, output_len}, ...]';
const VALUE = 'a positive integer, a range text or a list of them, e.g. [1, 2, "8-32*2"]';

/** An integer, a range text or a list of both → the values, or an issue at the element's index. */
const values = z.unknown().transform((v, ctx) => {
  const items = Array.isArray(v) ? v : [v];
  const out: number[] = [];
  for (const [i, item] of items.entries()) {
    const path = Array.isArray(v) ? [i] : [];
    if (typeof item === 'number' && Number.isSafeInteger(item) && item >= 1) {
      out.push(item);
    } else if (typeof item === 'string') {
      try {
        out.push(...integerRanges(item));
      } catch (e) {
        if (!(e instanceof FlagTextError)) throw e;
        ctx.addIssue({ code: 'custom', path, message: `'${item}' is not allowed (allowed: ${e.allowed})` });
        return z.NEVER;
      }
    } else {
      ctx.addIssue({ code: 'custom', path, message: `${JSON.stringify(item)} is not allowed (allowed: ${VALUE})` });
      return z.NEVER;
    }
  }
  if (out.length === 0) ctx.addIssue({ code: 'custom', message: `an empty list is not allowed (allowed: ${VALUE})` });
  return out;
});
const dims = z.strictObject({ batch: values.optional(), input_len: values.optional(), output_len: values.optional() });
const posInt = z.number().int().positive();
const pointSchema = z.strictObject({ batch: posInt.optional(), input_len: posInt.optional(), output_len: posInt.optional() });

const FORM_SCHEMAS = [z.strictObject({ zip: dims }), z.strictObject({ points: z.array(pointSchema).min(1) }), dims] as const;

/** The file's points over the dimensions it gives (every point the same ones). */
export type GridFilePoints = Partial<GridPoint>[];

/** `what` ends with its own "(allowed: ...)" where it has one, else the forms are what is allowed. */
function fail(file: string, where: string, what: string, allowed = FORMS): never {
  const message = /\(allowed: .*\)$/.test(what) ? what : `${what} (allowed: ${allowed})`;
  throw new InvalidArgumentError(`grid file ${file}: ${where}${message}`, { field: 'points', allowed });
}

function product(given: [keyof GridPoint, number[]][]): GridFilePoints {
  let points: GridFilePoints = [{}];
  for (const [key, vs] of given) points = points.flatMap((p) => vs.map((v) => ({ ...p, [key]: v })));
  return points;
}

/** Reads and checks a grid file (JSON, or YAML by its extension .yaml/.yml). */
export function readGridFile(file: string): GridFilePoints {
  let raw: unknown;
  try {
    const content = readFileSync(file, 'utf8');
    raw = /\.ya?ml$/i.test(file) ? parseYaml(content) : JSON.parse(content);
  } catch (e) {
    fail(file, '', `cannot be read: ${e instanceof Error ? e.message.split('\n')[0]! : String(e)}`, 'a readable JSON file, or YAML named .yaml or .yml');
  }
  // The form is chosen by its key, so an error is about that form, not a union of all three.
  const form = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? ('zip' in raw ? 0 : 'points' in raw ? 1 : 2) : 2;
  const r = FORM_SCHEMAS[form].safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    const what = issue.code === 'unrecognized_keys' ? `unknown key '${issue.keys[0]}'` : issue.code === 'custom' ? issue.message : issue.message.toLowerCase();
    fail(file, where, what);
  }
  const data = r.data as Record<string, unknown>;
  if ('points' in data) {
    const points = (data.points as Partial<Record<Dim, number>>[]).map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [DIMS[k as Dim], v])));
    const keys = Object.keys(points[0]!).sort().join(',');
    const odd = points.findIndex((p) => Object.keys(p).sort().join(',') !== keys);
    if (odd >= 0) fail(file, `points.${odd}: `, 'gives other dimensions than points.0');
    if (keys === '') fail(file, 'points.0: ', 'gives no dimension');
    return points as GridFilePoints;
  }
  const lists = ('zip' in data ? data.zip : data) as Partial<Record<Dim, number[]>>;
  const given = (Object.keys(DIMS) as Dim[]).filter((d) => lists[d] !== undefined).map((d) => [DIMS[d], lists[d]!] as [keyof GridPoint, number[]]);
  if (given.length === 0) fail(file, '', 'gives no dimension');
  if (!('zip' in data)) return product(given);
  const n = given[0]![1].length;
  const odd = given.find(([, vs]) => vs.length !== n);
  if (odd) {
    const name = (k: keyof GridPoint) => Object.keys(DIMS).find((d) => DIMS[d as Dim] === k);
    fail(file, `zip.${name(odd[0])}: `, `${odd[1].length} values, zip.${name(given[0]![0])} has ${n}`);
  }
  return Array.from({ length: n }, (_, i) => Object.fromEntries(given.map(([k, vs]) => [k, vs[i]])));
}

/**
 * The sweep's points: each of the file's points crossed with the lists of the dimensions it does
 * not give. A list the file also gives is an error naming the option (two grids for one dimension).
 */
export function gridFilePoints(file: string, points: GridFilePoints, lists: Lists, fallback: Required<Lists>): GridPoint[] {
  const first = points[0] ?? {};
  for (const key of Object.keys(first) as (keyof GridPoint)[]) {
    const list = LIST_OF[key];
    if (lists[list] !== undefined) {
      const allowed = `absent when the grid file gives ${key}`;
      throw new InvalidArgumentError(`${list}: not allowed with grid file ${path.basename(file)}, which gives it (allowed: ${allowed})`, { field: list, allowed });
    }
  }
  const missing = (Object.keys(LIST_OF) as (keyof GridPoint)[]).filter((k) => !(k in first));
  return points.flatMap((p) => product(missing.map((k) => [k, lists[LIST_OF[k]] ?? fallback[LIST_OF[k]]])).map((q) => ({ ...p, ...q }) as GridPoint));
}
