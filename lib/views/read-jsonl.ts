// Reads a `--save-jsonl` file back for the views (compare, plot, serving). Each line is checked
// against the fields the views use; the rest of the record is kept as it is, so a newer writer's
// extra fields (provenance, telemetry) pass through. A bad file is one InvalidArgumentError naming
// the file and line.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidArgumentError } from '../base/errors.js';

const num = z.number().nullable();
/** Fields a newer writer added: absent in older files, read as null. */
const added = <T extends z.ZodType>(t: T) => t.nullable().optional().transform((v) => v ?? null);

/** One sample of device telemetry over the run (written by the telemetry sampler, when present). */
export const TelemetrySampleSchema = z.object({
  t_ms: z.number(),
  sm_clock_mhz: num,
  mem_clock_mhz: num,
  power_w: num,
  temp_c: num,
  mem_used_bytes: num,
});
export type TelemetrySample = z.infer<typeof TelemetrySampleSchema>;

export const RunPointSchema = z.looseObject({
  run_name: z.string(),
  batch_size: z.number().int().positive(),
  input_len: z.number().int().positive(),
  output_len: z.number().int().positive(),
  ok: z.boolean(),
  error_code: z.string().nullable(),
  model: z.string(),
  mode: z.enum(['both', 'prefill', 'decode']),
  device: z.string(),
  moe_routing: z.string().nullable(),
  mtp_drafts: z.number().int().nonnegative(),
  mtp_accept: z.string().nullable(),
  tp: added(z.number().int().positive()),
  ep: added(z.number().int().positive()),
  dp: added(z.number().int().positive()),
  prefill_ms: num,
  prefill_throughput: num,
  prefill_floor_ms: num,
  prefill_ratio: num,
  decode_steps: num,
  decode_mean_ms: num,
  decode_median_ms: num,
  decode_p90_ms: num,
  decode_floor_ms: num,
  decode_ratio: num,
  median_decode_throughput: num,
  accepted_per_step: num,
  total_ms: num,
  prefill_op_names: added(z.array(z.string())),
  prefill_op_ms: added(z.array(z.number())),
  decode_op_names: added(z.array(z.string())),
  decode_op_ms: added(z.array(z.number())),
  telemetry: added(z.array(TelemetrySampleSchema)),
});
/** One JSONL line as the views see it (snake_case, as written). */
export type RunPoint = z.infer<typeof RunPointSchema>;

const ALLOWED = "allowed: one JSON object per line with gpubench's JSONL fields";

/** Parses JSONL text; `name` is the file name the errors use. Blank lines are skipped. */
export function parseJsonl(text: string, name: string): RunPoint[] {
  const points: RunPoint[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new InvalidArgumentError(`${name}:${i + 1}: not JSON (${(e as Error).message}; ${ALLOWED})`);
    }
    const parsed = RunPointSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? `field ${issue.path.join('.')}: ` : '';
      throw new InvalidArgumentError(`${name}:${i + 1}: ${where}${issue.message} (${ALLOWED})`);
    }
    points.push(parsed.data);
  }
  return points;
}

/** Reads and parses a JSONL file; an unreadable or empty file is an InvalidArgumentError. */
export function readJsonl(file: string): RunPoint[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; allowed: a readable JSONL file)`);
  }
  const points = parseJsonl(text, file);
  if (points.length === 0) throw new InvalidArgumentError(`${file}: has no points (${ALLOWED})`);
  return points;
}

/** The fields that make a point's identity across runs (pointKey). */
export type PointIdentity = Pick<RunPoint, 'model' | 'mode' | 'batch_size' | 'input_len' | 'output_len' | 'moe_routing' | 'mtp_drafts' | 'mtp_accept'> &
  Partial<Pick<RunPoint, 'tp' | 'ep' | 'dp'>>;

/**
 * The identity of a grid point across runs: model, mode, shape, MoE routing, MTP settings and the
 * parallel layout (absent in older files: one rank).
 */
export function pointKey(p: PointIdentity): string {
  const mtp = p.mtp_drafts > 0 ? ` mtp=${p.mtp_drafts}/${p.mtp_accept}` : '';
  const moe = p.moe_routing !== null ? ` moe=${p.moe_routing}` : '';
  const [tp, ep, dp] = [p.tp ?? 1, p.ep ?? 1, p.dp ?? 1];
  const layout = tp * ep * dp > 1 ? ` tp=${tp} ep=${ep} dp=${dp}` : '';
  return `${p.model} ${p.mode} bs=${p.batch_size} in=${p.input_len} out=${p.output_len}${moe}${mtp}${layout}`;
}
