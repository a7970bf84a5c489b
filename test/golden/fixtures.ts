// Golden fixtures made by transformers (scripts/golden/make_fixtures.py): a tiny random model's
// config.json and model.safetensors, and the fp32 logits and greedy tokens it produced.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon, type NativeGenerateOptions, type NativeGenerateResult, type NativeParallel } from '../../lib/bridge/native.js';
import { normalizeConfig } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { MLA_FORMS, type MlaForm } from '../../lib/model/mla-spec.js';

/** The MLA prefill forms a fixture runs in: both for MLA models, the default for the others. */
export function prefillForms(f: Fixture): (MlaForm | undefined)[] {
  return 'kv_lora_rank' in f.config ? [...MLA_FORMS] : [undefined];
}

export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export interface Expected {
  model_type: string;
  prompt: number[];
  steps: number;
  tokens: number[];
  logits: number[][];
  /**
   * deepseek_v3: the MTP module's logits and argmax after the prefill and after each decode step
   * (scripts/golden/README.md), each predicting the token after tokens[k].
   */
  mtp?: { layer: number; hidden: number[][]; logits: number[][]; tokens: number[] };
}

export interface Fixture {
  name: string;
  dir: string;
  config: object;
  expected: Expected;
}

export function listFixtures(): Fixture[] {
  if (!existsSync(FIXTURES_DIR)) return [];
  return readdirSync(FIXTURES_DIR)
    .filter((n) => existsSync(path.join(FIXTURES_DIR, n, 'expected.json')))
    .sort()
    .map((name) => {
      const dir = path.join(FIXTURES_DIR, name);
      return {
        name,
        dir,
        config: JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')),
        expected: JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')),
      };
    });
}

/**
 * Loads the fixture's weights on `device` and runs its prompt and decode steps (with `mtp`: MTP drafting or pinned MoE routing
 * when given; MLA models' prefill in `mlaPrefill`'s form, the engine's default when absent; each
 * rank loading its shard under a parallel layout).
 */
export async function runFixture(
  f: Fixture, device: string, useGraphs = false, mtp?: NativeGenerateOptions, mlaPrefill?: MlaForm, parallel?: NativeParallel,
): Promise<NativeGenerateResult> {
  const spec = normalizeConfig(f.config, { name: f.name });
  const { Engine } = loadAddon();
  const e = new Engine({
    spec: toNative(spec), device, seed: 0, weightsPath: path.join(f.dir, 'model.safetensors'),
    kvPoolTokens: 256, maxBatch: 1, maxTokensPerStep: 64, maxContext: 64, maxDrafts: mtp?.mtpDrafts ?? 0,
    ...(parallel ? { parallel, threads: 2 } : {}),
    ...(mlaPrefill ? { mlaPrefill } : {}),
  });
  try {
    await e.open();
    return await e.generate(Int32Array.from(f.expected.prompt), f.expected.steps, useGraphs, mtp);
  } finally {
    await e.close();
  }
}

export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
