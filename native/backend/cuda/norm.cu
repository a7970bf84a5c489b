// norm ops: rmsnorm and the fused residual add + rmsnorm. Reference: backend/cpu/norm.cc.
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

// One block per row, two passes: the sum of squares (fp32), then the scaled write. The second
// pass re-reads x from L1/L2 rather than keeping a row of arbitrary width in registers. Each
// thread touches the same elements in both passes and every read of pass 1 is done before the
// barrier in block_sum, so out may alias x.
template <int W>
__global__ void rmsnorm_kernel(bf16* out, const bf16* x, const bf16* weight, int64_t cols,
                               float eps) {
  start_dependent_kernel();
  const int64_t units = cols / W;
  const bf16* xr = x + blockIdx.x * cols;
  bf16* outr = out + blockIdx.x * cols;
  float ss = 0.0f;
  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    float f[W];
    load<W>(xr, u, f);
#pragma unroll
    for (int j = 0; j < W; ++j) ss += f[j] * f[j];
  }
  const float inv = rsqrtf(block_sum(ss) / (float)cols + eps);
  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    float f[W], w[W];
    load<W>(xr, u, f);
    load<W>(weight, u, w);
#pragma unroll
    for (int j = 0; j < W; ++j) f[j] = f[j] * inv * w[j];
    store<W>(outr, u, f);
  }
}

// residual = bf16(residual + x), then out = rmsnorm(residual) * weight: the rounded sum is what
// is normalized, as Hugging Face does in bf16. Pass 2 re-reads the residual this same thread
// wrote in pass 1, so no barrier is needed for it; out may alias x (same argument as above).
template <int W>
__global__ void add_rmsnorm_kernel(bf16* residual, const bf16* x, const bf16* weight, bf16* out,
                                   int64_t cols, float eps) {
  start_dependent_kernel();
  const int64_t units = cols / W;
  bf16* rr = residual + blockIdx.x * cols;
  const bf16* xr = x + blockIdx.x * cols;
  bf16* outr = out + blockIdx.x * cols;
  float ss = 0.0f;
  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    float r[W], f[W];
    load<W>(rr, u, r);
    load<W>(xr, u, f);
#pragma unroll
    for (int j = 0; j < W; ++j) r[j] = __bfloat162float(__float2bfloat16_rn(r[j] + f[j]));
    store<W>(rr, u, r);
#pragma unroll
    for (int j = 0; j < W; ++j) ss += r[j] * r[j];
  }
  const float inv = rsqrtf(block_sum(ss) / (float)cols + eps);
  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    float r[W], w[W];
    load<W>(rr, u, r);
    load<W>(weight, u, w);
#pragma unroll
    for (int j = 0; j < W; ++j) r[j] = r[j] * inv * w[j];
    store<W>(outr, u, r);
  }
}

int threads_for(int64_t units) {
  return (int)std::min<int64_t>(512, std::max<int64_t>(32, (units + 31) / 32 * 32));
}

void check_bf16(const Tensor& t, const char* op) {
  if (t.dtype != DType::BF16) fail(ErrorCode::InvalidArgument, std::string(op) + ": expects bf16 tensors");
}

}  // namespace

void CudaBackend::rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) {
  check_bf16(out, "rmsnorm");
  check_bf16(x, "rmsnorm");
  check_bf16(weight, "rmsnorm");
  check_norm("rmsnorm", out, x, weight);
  if (x.rows == 0) return;
  auto* o = static_cast<bf16*>(out.data);
  auto* xp = static_cast<const bf16*>(x.data);
  auto* w = static_cast<const bf16*>(weight.data);
  const unsigned rows = (unsigned)x.rows;
  if (x.cols % 8 == 0 && aligned16(o) && aligned16(xp) && aligned16(w))
    launch_kernel(pdl_, rmsnorm_kernel<8>, rows, threads_for(x.cols / 8), 0, stream_, o, xp, w, x.cols, eps);
  else
    launch_kernel(pdl_, rmsnorm_kernel<1>, rows, threads_for(x.cols), 0, stream_, o, xp, w, x.cols, eps);
  check_launch();
}

void CudaBackend::add_rmsnorm(Tensor residual, Tensor x, Tensor weight, Tensor out, float eps) {
  const int64_t cols = x.cols;
  check_bf16(out, "add_rmsnorm");
  check_bf16(x, "add_rmsnorm");
  check_bf16(weight, "add_rmsnorm");
  check_bf16(residual, "add_rmsnorm");
  check_add_norm(residual, x, weight, out);
  if (x.rows == 0) return;
  auto* r = static_cast<bf16*>(residual.data);
  auto* xp = static_cast<const bf16*>(x.data);
  auto* w = static_cast<const bf16*>(weight.data);
  auto* o = static_cast<bf16*>(out.data);
  const unsigned rows = (unsigned)x.rows;
  if (cols % 8 == 0 && aligned16(r) && aligned16(xp) && aligned16(w) && aligned16(o))
    launch_kernel(pdl_, add_rmsnorm_kernel<8>, rows, threads_for(cols / 8), 0, stream_, r, xp, w, o, cols, eps);
  else
    launch_kernel(pdl_, add_rmsnorm_kernel<1>, rows, threads_for(cols), 0, stream_, r, xp, w, o, cols, eps);
  check_launch();
}

}  // namespace gpubench
