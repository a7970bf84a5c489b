// Rotary cos/sin on the device, shared by rope.cu and mla.cu.
#pragma once
#include <cuda_runtime.h>

namespace gpubench {

// cos and sin of the fp32 angle position * inv_freq (Hugging Face's product), times
// attn_factor. Angles reach 1e5 radians, where the fast sine loses accuracy, so the angle is
// first brought into [-pi, pi] in double (three double ops, exact enough for bf16 outputs) and
// only then taken through the fast sine: cheap enough for every lane to make its own, with no
// shared table and no barrier.
__device__ __forceinline__ void rope_cos_sin(float position, float inv_freq, float attn_factor,
                                             float& c, float& s) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const double angle = (double)(position * inv_freq);
  const float reduced = (float)(angle - rint(angle * (1.0 / kTwoPi)) * kTwoPi);
  __sincosf(reduced, &s, &c);
  c *= attn_factor;
  s *= attn_factor;
}

}  // namespace gpubench
