// Counter-based hashing: every dummy weight and every random token is a pure function of
// (seed, stream, index), so any backend can make the same values in any order, in parallel,
// without state. splitmix64 finalizer; usable from host and device code.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GPUBENCH_HD __host__ __device__ __forceinline__
#else
#define GPUBENCH_HD inline
#endif

namespace gpubench {

GPUBENCH_HD uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

GPUBENCH_HD uint64_t hash3(uint64_t seed, uint64_t stream, uint64_t index) {
  return mix64(mix64(seed ^ mix64(stream)) + index);
}

// Uniform in [-1, 1) with 24 bits of resolution.
GPUBENCH_HD float uniform_pm1(uint64_t h) {
  return (float)((h >> 40) & 0xFFFFFF) * (2.0f / 16777216.0f) - 1.0f;
}

// Round-to-nearest-even fp32 -> bf16 bits and back, so the CPU backend stores exactly the
// value the CUDA backend stores in bf16.
GPUBENCH_HD uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  u = __float_as_uint(f);
#else
  std::memcpy(&u, &f, 4);
#endif
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFFu)) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

GPUBENCH_HD float bf16_bits_to_f32(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

GPUBENCH_HD float round_to_bf16(float f) { return bf16_bits_to_f32(f32_to_bf16_bits(f)); }

// The dummy weight at `index` of the tensor whose name hashes to `stream`: U(-scale, scale),
// defined as a bf16 value.
GPUBENCH_HD uint16_t dummy_weight_bits(uint64_t seed, uint64_t stream, uint64_t index, float scale) {
  return f32_to_bf16_bits(uniform_pm1(hash3(seed, stream, index)) * scale);
}

// FNV-1a of a tensor name: the stream of its dummy values.
inline uint64_t name_hash(const char* s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return h;
}

}  // namespace gpubench
