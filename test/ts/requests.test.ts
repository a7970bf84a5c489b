import { describe, expect, it } from 'vitest';
import { hash32, makeInputIds } from '../../lib/api/requests.js';

// The same hash with BigInt, written from splitmix64's definition, to check the 32-bit arithmetic.
const MASK = (1n << 64n) - 1n;
function reference(seed: number, stream: number, index: number): number {
  const s = BigInt(seed);
  let z = ((BigInt.asUintN(32, s) * 0x9e3779b97f4a7c15n) & MASK) ^ ((BigInt(stream) ^ (s >> 32n)) << 32n) ^ BigInt(index);
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  z = z ^ (z >> 31n);
  return Number((z >> 32n) ^ (z & 0xffffffffn));
}

describe('hash32', () => {
  it('is splitmix64 (checked against BigInt)', () => {
    for (const seed of [0, 1, 42, 0xffffffff, 2 ** 40 + 5]) {
      for (const stream of [0, 1, 7, 1000]) {
        for (const index of [0, 1, 2, 12345, 0xfffffff]) {
          expect(hash32(seed, stream, index)).toBe(reference(seed, stream, index));
        }
      }
    }
  });
});

describe('makeInputIds', () => {
  it('is deterministic', () => {
    expect(makeInputIds(42, 3, 64, 2048)).toEqual(makeInputIds(42, 3, 64, 2048));
  });

  it('depends on seed and request index', () => {
    const a = makeInputIds(42, 0, 64, 2048);
    expect(makeInputIds(43, 0, 64, 2048)).not.toEqual(a);
    expect(makeInputIds(42, 1, 64, 2048)).not.toEqual(a);
  });

  it('is a prefix-stable function of the position', () => {
    expect(makeInputIds(7, 2, 100, 500).subarray(0, 10)).toEqual(makeInputIds(7, 2, 10, 500));
  });

  it('stays in [0, vocab) and covers it', () => {
    const ids = makeInputIds(1, 0, 20000, 128256);
    let min = Infinity, max = -Infinity;
    for (const id of ids) {
      min = Math.min(min, id);
      max = Math.max(max, id);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(128256);
    expect(max - min).toBeGreaterThan(120000);
    const small = makeInputIds(1, 0, 1000, 3);
    expect(new Set(small)).toEqual(new Set([0, 1, 2]));
    expect(makeInputIds(1, 0, 5, 1)).toEqual(new Int32Array(5));
  });

  it('refuses a bad vocab or length', () => {
    expect(() => makeInputIds(1, 0, 4, 0)).toThrow(RangeError);
    expect(() => makeInputIds(1, 0, -1, 10)).toThrow(RangeError);
  });

  it('is fast enough for a 128 × 8192 batch', () => {
    const t0 = performance.now();
    for (let i = 0; i < 16; i++) makeInputIds(42, i, 8192, 128256);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
