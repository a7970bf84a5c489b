// Rotary-embedding frequencies, computed on the host once per engine exactly as Hugging Face's
// rope init functions do (default, linear, llama3, yarn); kernels turn them into cos/sin.
#pragma once
#include <vector>

#include "core/model_spec.h"

namespace gpubench {

struct RopeTable {
  std::vector<float> inv_freq;  // [rotary_dim / 2]
  float attn_factor = 1.0f;     // multiplies cos and sin (yarn's mscale ratio)
};

RopeTable make_rope_table(const RopeSpec& rope, int rotary_dim);

// Yarn's attention scaling, 0.1 * mscale * ln(scale) + 1 (1 when scale <= 1), as transformers'
// yarn_get_mscale: a factor of cos and sin, and of DeepSeek's softmax scale (squared).
double yarn_get_mscale(double scale, double mscale);

}  // namespace gpubench
