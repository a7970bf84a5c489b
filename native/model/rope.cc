#include "model/rope.h"

#include <cmath>

#include "base/error.h"

namespace gpubench {

namespace {

// Mirrors torch: base ** (arange(0, dim, 2) / dim) in fp32.
std::vector<float> default_inv_freq(double theta, int dim) {
  std::vector<float> f(dim / 2);
  for (int i = 0; i < dim / 2; ++i) {
    float exponent = (float)(2 * i) / (float)dim;
    f[i] = 1.0f / std::pow((float)theta, exponent);
  }
  return f;
}

// transformers' _compute_llama3_parameters: long wavelengths are slowed down by `factor`,
// short ones kept, the band between blended smoothly.
void apply_llama3(std::vector<float>& f, const RopeSpec& r) {
  const double pi = 3.14159265358979323846;
  double old_ctx = (double)r.original_max_position;
  double low_wavelen = old_ctx / r.low_freq_factor, high_wavelen = old_ctx / r.high_freq_factor;
  for (float& inv : f) {
    double wavelen = 2 * pi / inv;
    if (wavelen > low_wavelen) {
      inv = (float)(inv / r.factor);
    } else if (wavelen >= high_wavelen) {
      double smooth = (old_ctx / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
      inv = (float)((1 - smooth) * inv / r.factor + smooth * inv);
    }
  }
}

// transformers' _compute_yarn_parameters (DeepSeek's mscale / mscale_all_dim form).
float apply_yarn(std::vector<float>& f, const RopeSpec& r, int dim) {
  const double pi = 3.14159265358979323846;
  double base = r.theta, factor = r.factor;
  double orig = (double)r.original_max_position;
  auto correction_dim = [&](double rot) { return (dim * std::log(orig / (rot * 2 * pi))) / (2 * std::log(base)); };
  double low = std::floor(correction_dim(r.beta_fast)), high = std::ceil(correction_dim(r.beta_slow));
  low = std::max(low, 0.0);
  high = std::min(high, (double)dim - 1);
  if (low == high) high += 0.001;
  for (int i = 0; i < dim / 2; ++i) {
    float extrapolation = f[i];
    float interpolation = (float)(f[i] / factor);
    double ramp = std::min(1.0, std::max(0.0, (i - low) / (high - low)));
    double extrapolation_factor = 1.0 - ramp;
    f[i] = (float)(interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor);
  }
  if (r.mscale != 0.0 && r.mscale_all_dim != 0.0) {
    return (float)(yarn_get_mscale(factor, r.mscale) / yarn_get_mscale(factor, r.mscale_all_dim));
  }
  return (float)yarn_get_mscale(factor, 1.0);
}

}  // namespace

double yarn_get_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

RopeTable make_rope_table(const RopeSpec& rope, int rotary_dim) {
  if (rotary_dim <= 0 || rotary_dim % 2) fail(ErrorCode::InvalidConfig, "rotary dimension must be even and positive");
  RopeTable t;
  t.inv_freq = default_inv_freq(rope.theta, rotary_dim);
  if (rope.type == "default") {
  } else if (rope.type == "linear") {
    for (float& inv : t.inv_freq) inv = (float)(inv / rope.factor);
  } else if (rope.type == "llama3") {
    apply_llama3(t.inv_freq, rope);
  } else if (rope.type == "yarn") {
    t.attn_factor = apply_yarn(t.inv_freq, rope, rotary_dim);
  } else {
    fail(ErrorCode::InvalidConfig, "rope type '" + rope.type + "' is not supported (allowed: default, linear, llama3, yarn)");
  }
  return t;
}

}  // namespace gpubench
