// norm ops: RMSNorm, and RMSNorm fused with the residual add, in fp32 as Hugging Face computes
// them: x * rsqrt(mean(x^2) + eps), then times the weight.
#include <cmath>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

float rms_inv(const float* x, int64_t n, float eps) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i] * x[i];
  return 1.0f / std::sqrt(sum / (float)n + eps);
}

namespace {
void check_f32_norm(const char* op, const Tensor& out, const Tensor& x, const Tensor& weight) {
  check_f32(op, "out", out);
  check_f32(op, "x", x);
  check_f32(op, "weight", weight);
}
}  // namespace

void CpuBackend::rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) {
  check_f32_norm("rmsnorm", out, x, weight);
  check_norm("rmsnorm", out, x, weight);
  const float* w = static_cast<const float*>(weight.data);
  pool_.parallel_for(x.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = static_cast<const float*>(x.row(r).data);
      float* o = static_cast<float*>(out.row(r).data);
      float inv = rms_inv(xr, x.cols, eps);
      // Element i is read before it is written, so out may alias x.
      for (int64_t i = 0; i < x.cols; ++i) o[i] = xr[i] * inv * w[i];
    }
  }, grain_for(4 * x.cols));
}

void CpuBackend::add_rmsnorm(Tensor residual, Tensor x, Tensor weight, Tensor out, float eps) {
  check_f32_norm("add_rmsnorm", out, x, weight);
  check_f32("add_rmsnorm", "residual", residual);
  check_add_norm(residual, x, weight, out);
  const float* w = static_cast<const float*>(weight.data);
  pool_.parallel_for(x.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* res = static_cast<float*>(residual.row(r).data);
      const float* xr = static_cast<const float*>(x.row(r).data);
      float* o = static_cast<float*>(out.row(r).data);
      // The whole row of x is consumed before out is written, so out may alias x.
      for (int64_t i = 0; i < x.cols; ++i) res[i] += xr[i];
      float inv = rms_inv(res, x.cols, eps);
      for (int64_t i = 0; i < x.cols; ++i) o[i] = res[i] * inv * w[i];
    }
  }, grain_for(5 * x.cols));
}

}  // namespace gpubench
