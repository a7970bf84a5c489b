import { describe, expect, it } from 'vitest';
import { expandGrid, parseBenchOptions, parseSweepOptions, type SweepOptions } from '../../lib/api/options.js';
import { InvalidArgumentError } from '../../lib/base/errors.js';

const base: SweepOptions = { model: 'tiny-llama', batchSizes: [1], inputLens: [8], outputLens: [4] };

function argError(o: unknown, parse: (o: never) => unknown = parseSweepOptions): InvalidArgumentError {
  try {
    parse(o as never);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as Error).message).not.toContain('\n');
    return e as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('expandGrid', () => {
  it('is batch × input × output, batch outermost', () => {
    expect(expandGrid([1, 2], [8, 16], [4, 5])).toEqual([
      { batchSize: 1, inputLen: 8, outputLen: 4 },
      { batchSize: 1, inputLen: 8, outputLen: 5 },
      { batchSize: 1, inputLen: 16, outputLen: 4 },
      { batchSize: 1, inputLen: 16, outputLen: 5 },
      { batchSize: 2, inputLen: 8, outputLen: 4 },
      { batchSize: 2, inputLen: 8, outputLen: 5 },
      { batchSize: 2, inputLen: 16, outputLen: 4 },
      { batchSize: 2, inputLen: 16, outputLen: 5 },
    ]);
  });

  it('keeps each list in its given order', () => {
    expect(expandGrid([4, 1], [2], [1]).map((p) => p.batchSize)).toEqual([4, 1]);
    expect(expandGrid([1], [], [1])).toEqual([]);
  });
});

describe('option defaults', () => {
  it('applies the documented defaults', () => {
    const o = parseSweepOptions(base);
    expect(o).toMatchObject({
      device: 'auto', mode: 'both', seed: 42, profile: 'none', batchTimeoutMs: 10000, useGraphs: true, profileDecodeSteps: 4, outDir: 'out',
    });
  });

  it('drops repeated grid values', () => {
    expect(parseSweepOptions({ ...base, batchSizes: [1, 2, 1] }).batchSizes).toEqual([1, 2]);
  });

  it('turns one point into a grid of one', () => {
    const o = parseBenchOptions({ model: 'tiny-llama', batchSize: 2, inputLen: 3, outputLen: 4, mode: 'decode' });
    expect(o).toMatchObject({ batchSizes: [2], inputLens: [3], outputLens: [4], mode: 'decode' });
  });

  it('accepts every device form', () => {
    for (const device of ['auto', 'cpu', 'cuda', 'cuda:0', 'cuda:12']) expect(parseSweepOptions({ ...base, device }).device).toBe(device);
  });

  it('accepts an AbortSignal and callbacks', () => {
    const ac = new AbortController();
    const o = parseSweepOptions({ ...base, signal: ac.signal, onProgress: () => {}, onPoint: () => {} });
    expect(o.signal).toBe(ac.signal);
  });
});

describe('option errors name the option and what it allows', () => {
  it.each([
    [{ batchSizes: [1, 0] }, 'batchSizes', 'a non-empty list of positive integers'],
    [{ batchSizes: [] }, 'batchSizes', 'a non-empty list of positive integers'],
    [{ inputLens: [1.5] }, 'inputLens', 'positive integers'],
    [{ outputLens: 'x' }, 'outputLens', 'positive integers'],
    [{ mode: 'fast' }, 'mode', 'prefill, decode, both'],
    [{ profile: 'all' }, 'profile', 'none, prefill, decode, both'],
    [{ device: 'gpu' }, 'device', "'auto', 'cpu', 'cuda' or 'cuda:N'"],
    [{ device: 'cuda:x' }, 'device', 'cuda:N'],
    [{ seed: -1 }, 'seed', 'an integer'],
    [{ layers: 0 }, 'layers', 'a positive integer'],
    [{ batchTimeoutMs: 0 }, 'batchTimeoutMs', 'milliseconds'],
    [{ useGraphs: 'no' }, 'useGraphs', 'true or false'],
    [{ signal: {} }, 'signal', 'an AbortSignal'],
    [{ onPoint: 3 }, 'onPoint', 'a function'],
    [{ peaks: { flopsPerS: 0, bytesPerS: 1 } }, 'peaks', 'positive'],
  ])('%j', (patch, field, allowed) => {
    const e = argError({ ...base, ...patch });
    expect(e.field).toBe(field);
    expect(e.message.startsWith(`${field}: `)).toBe(true);
    expect(e.message).toContain(`(allowed: `);
    expect(e.allowed).toContain(allowed);
  });

  it('says when a required option is missing', () => {
    const { batchSizes: _, ...rest } = base;
    expect(argError(rest).message).toBe('batchSizes: is missing (allowed: a non-empty list of positive integers; or points)');
    expect(argError({ ...base, model: undefined }).field).toBe('model');
  });

  it('refuses unknown options (typos)', () => {
    const e = argError({ ...base, batchsize: 3 });
    expect(e.message).toMatch(/^unknown option 'batchsize' \(allowed: .*batchSizes/);
  });

  it('validates single-point options', () => {
    const e = argError({ model: 'tiny-llama', batchSize: 0, inputLen: 1, outputLen: 1 }, parseBenchOptions);
    expect(e.message).toBe('batchSize: 0 is not allowed (allowed: a positive integer)');
  });

  it('refuses a non-object', () => {
    expect(() => parseSweepOptions(null as never)).toThrow(InvalidArgumentError);
  });

  it.each([
    [{ mtpDrafts: -1 }, 'mtpDrafts: -1 is not allowed (allowed: a non-negative integer (0: MTP off))'],
    [{ mtpDrafts: 2, mtpAccept: 3 }, "mtpAccept: 3 is not allowed (allowed: 'all', an integer in [0, 2 (mtpDrafts)] or { rate } with 0 <= rate <= 1)"],
    [{ mtpDrafts: 2, mtpAccept: { rate: 1.5 } }, 'mtpAccept: {"rate":1.5} is not allowed'],
    [{ mtpDrafts: 2, mtpAccept: 'some' }, 'mtpAccept: "some" is not allowed'],
    [{ mtpAccept: 'all' }, "mtpAccept: \"all\" is not allowed (allowed: absent when mtpDrafts is 0 (MTP off))"],
  ])('MTP: %j is a one-line error', (patch, message) => {
    expect(argError({ ...base, ...patch }).message).toContain(message);
  });

  it('MTP defaults to off; accept N, all or a rate within the drafts', () => {
    expect(parseSweepOptions(base).mtpDrafts).toBe(0);
    expect(parseSweepOptions({ ...base, mtpDrafts: 2, mtpAccept: 2 }).mtpAccept).toBe(2);
    expect(parseBenchOptions({ model: 'm', batchSize: 1, inputLen: 1, outputLen: 1, mtpDrafts: 1, mtpAccept: { rate: 0 } }).mtpAccept).toEqual({ rate: 0 });
    expect(argError({ model: 'm', batchSize: 1, inputLen: 1, outputLen: 1, mtpDrafts: 1, mtpAccept: 2 }, parseBenchOptions).field).toBe('mtpAccept');
  });
});
