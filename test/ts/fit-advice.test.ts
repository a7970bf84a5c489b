// "Does not fit" names the part that does not fit and the options that help (API: option names;
// the CLI: flags); a kvPoolTokens below the grid's need is said once with the minimum; threads above
// the cores are noted once.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import { fitAdvice, fitPartOf, kvTokensOf, withFitAdvice } from '../../lib/api/fit-advice.js';
import { DoesNotFitError } from '../../lib/base/errors.js';
import { fakeAddon, refusingAddon } from './fake-addon.js';

const grid = { model: 'tiny-llama', device: 'cpu', inputLens: [16], outputLens: [4] };

describe('the part that does not fit', () => {
  it('is read from the first words of the native message', () => {
    expect(fitPartOf('the weights do not fit on cuda:0: 140.0 GiB + a reserve of 1.0 GiB, 79.0 GiB free')).toBe('weights');
    expect(fitPartOf('the activations do not fit on cpu: 3.0 GiB for 65536 tokens per forward, 1.0 GiB free')).toBe('activations');
    expect(fitPartOf('the KV cache does not fit on cpu: 4096 bytes per token, 0.0 GiB left')).toBe('kv');
    expect(fitPartOf('batch does not fit the KV cache: needs 1024 tokens (8 x 128, 1 bytes), 64 tokens available')).toBe('kv');
    expect(fitPartOf('something else')).toBeUndefined();
  });

  it('KV: the kvPoolTokens cap with the grid minimum where the cap is below it, else smaller points', () => {
    expect(fitAdvice('kv', { kvPoolTokens: 64, gridKvTokens: 1024 })).toBe("`kvPoolTokens` of at least 1024 (the grid's largest point needs that many)");
    expect(fitAdvice('kv', { kvPoolTokens: undefined, gridKvTokens: 1024 })).toBe('a smaller `batchSizes`, `inputLens` or `outputLens`, or fewer layers (`layers`)');
    expect(withFitAdvice('not a fit message', { kvPoolTokens: 1, gridKvTokens: 2 })).toBe('not a fit message');
  });

  it('a point needs every request context in whole blocks', () => {
    expect(kvTokensOf({ batchSize: 8, inputLen: 16, outputLen: 4 }, 'both', 0, 16)).toBe(8 * 32);
    expect(kvTokensOf({ batchSize: 1, inputLen: 16, outputLen: 0 + 1 }, 'prefill', 0, 16)).toBe(32);
  });

  it.each([
    ['the weights do not fit on cpu: 9.0 GiB + a reserve of 0.3 GiB, 8.0 GiB free', 'fewer layers (`layers`) or a device with more memory'],
    ['the activations do not fit on cpu: 3.0 GiB for 65536 tokens per forward, 1.0 GiB free after the weights (1.0 GiB) and a reserve of 0.3 GiB',
      'a smaller `batchSizes` or `inputLens` (the largest forward), or fewer layers (`layers`)'],
  ])('an engine that cannot open: the API names the options (%s)', async (native, advice) => {
    const seen: string[] = [];
    const err = await sweep({ ...grid, batchSizes: [1, 2], addon: refusingAddon(native), onPoint: (p) => seen.push(p.ok ? 'ok' : p.error.message) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DoesNotFitError);
    expect((err as Error).message).toBe(`${native}; what helps: ${advice}`);
    // Every point is reported failed, with the same message.
    expect(seen).toEqual([(err as Error).message, (err as Error).message]);
  });

  it('a point the KV pool cannot hold: the message names kvPoolTokens and the minimum; the sweep notes the cap', async () => {
    const r = await sweep({ ...grid, batchSizes: [1, 8], kvPoolTokens: 64, addon: fakeAddon() });
    const f = r.points[1]!;
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.error.message).toMatch(/; what helps: `kvPoolTokens` of at least 256 \(the grid's largest point needs that many\)$/);
    expect(r.points[0]!.notes).toContain("`kvPoolTokens` 64 is below the 256 KV tokens the grid's largest point needs: points that need more fail");
  });

  it('threads above the cores are noted once per sweep', async () => {
    const cores = availableParallelism();
    const r = await sweep({ ...grid, batchSizes: [1, 2], threads: cores + 1, addon: fakeAddon() });
    const note = `\`threads\` ${cores + 1} is more than the ${cores} cores here: workers share cores, so the times rise and vary`;
    expect(r.points.every((p) => p.notes.filter((n) => n === note).length === 1)).toBe(true);
    const fine = await sweep({ ...grid, batchSizes: [1], threads: cores, addon: fakeAddon() });
    expect(fine.points[0]!.notes.some((n) => n.includes('threads'))).toBe(false);
  });
});
