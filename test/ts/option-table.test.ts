// The option table is the one declaration of every option: the API's defaults and messages and the
// CLI's flags must all come from it. These tests read the table and check each derived place.
import { describe, expect, it } from 'vitest';
import { OPTIONS, type OptionName } from '../../lib/api/option-table.js';
import { ALLOWED, DEFAULTS, parseSweepOptions } from '../../lib/api/options.js';
import { FLAG_OF } from '../../lib/cli/flags.js';
import { parseMoeRouting } from '../../lib/model/moe-routing.js';
import { runCli } from './cli-helpers.js';

const names = Object.keys(OPTIONS) as OptionName[];
const base = { model: 'tiny-llama', batchSizes: [1], inputLens: [8], outputLens: [4] };

describe('option table', () => {
  it('gives every default the API applies', () => {
    const parsed = parseSweepOptions(base) as unknown as Record<string, unknown>;
    const withDefault = names.filter((k) => 'default' in OPTIONS[k]);
    expect(withDefault.length).toBeGreaterThan(5);
    for (const k of withDefault) expect([k, parsed[k]]).toEqual([k, (OPTIONS[k] as { default: unknown }).default]);
    expect(Object.keys(DEFAULTS).sort()).toEqual([...withDefault].sort());
  });

  it("gives every option's allowed words to its error", () => {
    expect(Object.keys(ALLOWED)).toEqual(names);
    expect(() => parseSweepOptions({ ...base, threads: -1 })).toThrow(`threads: -1 is not allowed (allowed: ${OPTIONS.threads.allowed})`);
  });

  it('gives the CLI its flags, their help and FLAG_OF', async () => {
    const help = (await runCli(['run', '--help'])).stdout;
    for (const k of names) {
      const flag = 'flag' in OPTIONS[k] ? (OPTIONS[k] as { flag: { name: string; help: string } }).flag : undefined;
      if (!flag) continue;
      expect(FLAG_OF[k]).toBe(flag.name);
      expect(help).toContain(flag.name);
      expect(help.replace(/\s+/g, ' ')).toContain(flag.help);
    }
    expect(FLAG_OF.batchSizes).toBe('--batch');
  });
});

describe('parseMoeRouting', () => {
  it('parses each policy into its parts', () => {
    expect(parseMoeRouting('balanced')).toEqual({ kind: 'balanced' });
    expect(parseMoeRouting('real')).toEqual({ kind: 'real' });
    expect(parseMoeRouting('zipf:1.2')).toEqual({ kind: 'zipf', s: 1.2 });
    expect(parseMoeRouting('zipf:2e-1')).toEqual({ kind: 'zipf', s: 0.2 });
  });

  it.each(['', 'zipf', 'zipf:0', 'zipf:-1', 'zipf: 1', 'zipf:inf', 'zipf:1x', 'Balanced'])('names no policy with %j', (text) => {
    expect(parseMoeRouting(text)).toBeUndefined();
  });
});
