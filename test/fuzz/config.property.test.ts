// Property-based tests of the config path (lib/model/model-spec.ts and its moe-spec, mla-spec,
// config-fields and rope helpers): whatever config arrives — arbitrary JSON, a real preset with one
// field replaced by any value or removed, a rope section of any shape, a truncated config.json
// file — normalization either returns a spec C++ can run (positive integer sizes, finite numbers,
// heads that divide) or throws a one-line InvalidConfigError / InvalidArgumentError. Never another
// exception type.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidConfigError } from '../../lib/base/errors.js';
import { normalizeConfig, resolveModel, type ModelSpec } from '../../lib/model/model-spec.js';
import { PRESET_CONFIGS } from '../../lib/model/preset-configs.js';

// Counts in docs/reliability.md: keep them in step.
const RUNS = 2000;

const presets = Object.entries(PRESET_CONFIGS).map(([name, p]) => ({ name, config: p.config as Record<string, unknown> }));
const byName = (name: string) => presets.find((p) => p.name === name) as (typeof presets)[number];
const fieldNames = [...new Set(presets.flatMap((p) => Object.keys(p.config)))].sort();

// Values a hand-written or programmatic config may hold, weighted to the edges the checks guard.
const edgeValue = fc.oneof(
  fc.constantFrom(0, -1, 1, 2, 3, 0.5, -0, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53, 2 ** 64, 1e308, Number.MAX_SAFE_INTEGER + 2),
  fc.constantFrom(null, undefined, true, false, '', 'silu', 'default', 'yarn', 'llama3', 'linear', 'a\nb'),
  fc.integer(),
  fc.double(),
  fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, maxDepth: 2 }),
);

function expectRunnable(spec: ModelSpec): void {
  const sizes = [spec.vocabSize, spec.hiddenSize, spec.intermediateSize, spec.numLayers, spec.numHeads, spec.numKvHeads, spec.headDim, spec.maxPositionEmbeddings];
  for (const n of sizes) expect(Number.isSafeInteger(n) && n > 0, `size ${n}`).toBe(true);
  expect(spec.numHeads % spec.numKvHeads).toBe(0);
  // Rope rotates pairs: of the whole head, or of MLA's rope part (its head is nope + rope dims).
  expect((spec.mla ? spec.mla.qkRopeHeadDim : spec.headDim) % 2).toBe(0);
  expect(Number.isFinite(spec.rmsNormEps) && spec.rmsNormEps > 0).toBe(true);
  // Every number C++ receives is finite: JSON keeps them (NaN and Infinity would become null).
  expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  for (const v of Object.values(spec.rope)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
}

/** Calls f; returns the spec, or checks that the error is a typed one-line error and returns undefined. */
function specOrTypedError(f: () => ModelSpec): ModelSpec | undefined {
  try {
    return f();
  } catch (e) {
    const typed = e instanceof InvalidConfigError || e instanceof InvalidArgumentError;
    expect(typed, `untyped ${String(e)}`).toBe(true);
    expect((e as Error).message).not.toMatch(/[\n\r]/);
    return undefined;
  }
}

describe('config normalization under random input', () => {
  it('arbitrary JSON values and objects: a runnable spec or a typed one-line error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.object({ maxDepth: 2 })), (config) => {
        const spec = specOrTypedError(() => normalizeConfig(config as object));
        if (spec) expectRunnable(spec);
      }),
      { numRuns: RUNS },
    );
  });

  it('a preset with up to three fields replaced by any value or removed', () => {
    const edit = fc.record({ field: fc.constantFrom(...fieldNames), value: fc.option(edgeValue, { nil: undefined }) });
    fc.assert(
      fc.property(fc.constantFrom(...presets), fc.array(edit, { minLength: 1, maxLength: 3 }), (preset, edits) => {
        const config: Record<string, unknown> = structuredClone(preset.config);
        for (const { field, value } of edits) {
          if (value === undefined) delete config[field];
          else config[field] = value;
        }
        const spec = specOrTypedError(() => normalizeConfig(config));
        if (spec) expectRunnable(spec);
      }),
      {
        numRuns: RUNS,
        // Inputs that once failed: a BigInt quoted by JSON.stringify (TypeError), an integer past
        // 2^53 accepted as a size, a layer count that allocated its layer mix until the heap ran
        // out, 1e300 accepted as an integer, -0 kept as -0 in the spec.
        examples: [
          [byName('llama-3.1-8b'), [{ field: 'attention_bias', value: [0n] }]],
          [byName('deepseek-v2-lite'), [{ field: 'qk_nope_head_dim', value: 2 ** 53 }]],
          [byName('deepseek-v2-lite'), [{ field: 'num_hidden_layers', value: 2 ** 31 }]],
          [byName('llama-3.1-8b'), [{ field: 'vocab_size', value: 1e300 }]],
          [byName('tiny-deepseek-v2'), [{ field: 'n_shared_experts', value: -0 }]],
        ],
      },
    );
  });

  it('rope_scaling and rope_parameters of any shape', () => {
    const ropeSection = fc.oneof(
      edgeValue,
      fc.record(
        {
          rope_type: fc.oneof(fc.constantFrom('default', 'linear', 'llama3', 'yarn', 'dynamic', 'longrope'), edgeValue),
          type: fc.constantFrom('linear', 'yarn', 'su'),
          rope_theta: edgeValue,
          factor: edgeValue,
          low_freq_factor: edgeValue,
          high_freq_factor: edgeValue,
          original_max_position_embeddings: edgeValue,
          beta_fast: edgeValue,
          beta_slow: edgeValue,
          mscale: edgeValue,
          mscale_all_dim: edgeValue,
          attention_factor: edgeValue,
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(fc.constantFrom(...presets), fc.constantFrom('rope_scaling', 'rope_parameters'), ropeSection, (preset, key, section) => {
        const config: Record<string, unknown> = { ...structuredClone(preset.config), [key]: section };
        const spec = specOrTypedError(() => normalizeConfig(config));
        if (spec) expectRunnable(spec);
      }),
      { numRuns: RUNS, examples: [[byName('llama-3.1-8b'), 'rope_scaling', [0n]]] },
    );
  });

  it('a config.json cut short at any byte: loads only when whole, else a typed one-line error', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-config-'));
    const file = path.join(dir, 'config.json');
    fc.assert(
      fc.property(fc.constantFrom(...presets), fc.double({ min: 0, max: 1, noNaN: true }), (preset, cut) => {
        const text = JSON.stringify(preset.config, null, 2);
        const end = Math.floor(cut * text.length);
        writeFileSync(file, text.slice(0, end));
        const spec = specOrTypedError(() => resolveModel(file));
        // JSON that parses from a prefix is the whole object (the closing brace is its last byte).
        expect(spec !== undefined).toBe(end === text.length);
      }),
      { numRuns: 300 },
    );
  });
});
