// Benchmark prompts: random token ids that depend only on (seed, request index, position), so a run
// is reproducible, any request can be made without making the ones before it, and two points of a
// sweep with the same batch and input length send the very same prompts.
//
// The hash is splitmix64's finalizer over a counter, done in 32-bit halves with Math.imul (BigInt
// would be ~50× slower for a 128 × 8192 batch). Ids are taken with a multiply-high reduction, which
// is uniform enough for vocabularies far below 2^32.

const M1_HI = 0xbf58476d, M1_LO = 0x1ce4e5b9;
const M2_HI = 0x94d049bb, M2_LO = 0x133111eb;
const GOLDEN_HI = 0x9e3779b9, GOLDEN_LO = 0x7f4a7c15;

/** 64-bit (hi, lo) product mod 2^64 of two values given as 32-bit halves. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): [number, number] {
  // lo × lo needs the full 64-bit result: split into 16-bit pieces.
  const a0 = aLo & 0xffff, a1 = aLo >>> 16, b0 = bLo & 0xffff, b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const mid = a1 * b0 + (p00 >>> 16);
  const mid2 = a0 * b1 + (mid & 0xffff);
  const lo = ((mid2 & 0xffff) << 16) | (p00 & 0xffff);
  const carry = a1 * b1 + Math.floor(mid / 0x10000) + Math.floor(mid2 / 0x10000);
  const hi = (carry + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) | 0;
  return [hi >>> 0, lo >>> 0];
}

/** splitmix64's output function of the 64-bit state (hi, lo); returns the high 32 bits of the mix. */
function mix(hi: number, lo: number): number {
  // z ^= z >>> 30; z *= M1
  lo = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0;
  hi = (hi ^ (hi >>> 30)) >>> 0;
  [hi, lo] = mul64(hi, lo, M1_HI, M1_LO);
  // z ^= z >>> 27; z *= M2
  lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0;
  hi = (hi ^ (hi >>> 27)) >>> 0;
  [hi, lo] = mul64(hi, lo, M2_HI, M2_LO);
  // z ^= z >>> 31
  lo = (lo ^ ((lo >>> 31) | (hi << 1))) >>> 0;
  hi = (hi ^ (hi >>> 31)) >>> 0;
  return (hi ^ lo) >>> 0;
}

/** A 32-bit hash of (seed, stream, index): splitmix64 of seed·φ ⊕ (stream << 32 | index). */
export function hash32(seed: number, stream: number, index: number): number {
  const [sHi, sLo] = mul64(0, seed >>> 0, GOLDEN_HI, GOLDEN_LO);
  const hi = (sHi ^ (stream >>> 0) ^ Math.floor(seed / 0x100000000)) >>> 0;
  const lo = (sLo ^ (index >>> 0)) >>> 0;
  return mix(hi, lo);
}

/** The prompt of request `requestIndex`: `inputLen` ids in [0, vocabSize). */
export function makeInputIds(seed: number, requestIndex: number, inputLen: number, vocabSize: number): Int32Array {
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > 0x7fffffff) {
    throw new RangeError(`vocabSize must be an integer in [1, 2^31), got ${vocabSize}`);
  }
  if (!Number.isInteger(inputLen) || inputLen < 0) throw new RangeError(`inputLen must be a non-negative integer, got ${inputLen}`);
  const ids = new Int32Array(inputLen);
  for (let i = 0; i < inputLen; i++) {
    // Multiply-high reduction: floor(h · vocab / 2^32).
    ids[i] = Math.floor((hash32(seed, requestIndex, i) * vocabSize) / 0x100000000);
  }
  return ids;
}
