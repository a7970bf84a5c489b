// activation: out[T, I] = silu(gate_up[:, :I]) * gate_up[:, I:].
// Reference: backend/cpu/activation.cc.
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }

// Grid-stride over 8-element units of out (one 16-byte load of gate, one of up, one store),
// in fp32 with one rounding at the end.
__global__ void swiglu_vec_kernel(bf16* out, const bf16* gate_up, int64_t rows, int64_t inter) {
  start_dependent_kernel();
  const int64_t units_per_row = inter / 8;
  const int64_t n = rows * units_per_row;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t r = i / units_per_row, c = i % units_per_row;
    const uint4* in = reinterpret_cast<const uint4*>(gate_up + r * 2 * inter);
    float g[8], u[8];
    bf16x8_to_f32(in[c], g);
    bf16x8_to_f32(in[units_per_row + c], u);
#pragma unroll
    for (int j = 0; j < 8; ++j) g[j] = silu_mul(g[j], u[j]);
    reinterpret_cast<uint4*>(out + r * inter)[c] = f32_to_bf16x8(g);
  }
}

// Odd widths and unaligned views: one element per iteration.
__global__ void swiglu_scalar_kernel(bf16* out, const bf16* gate_up, int64_t rows, int64_t inter) {
  start_dependent_kernel();
  const int64_t n = rows * inter;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t r = i / inter, c = i % inter;
    const bf16* in = gate_up + r * 2 * inter;
    const float g = __bfloat162float(in[c]), u = __bfloat162float(in[inter + c]);
    out[i] = __float2bfloat16_rn(silu_mul(g, u));
  }
}

}  // namespace

void CudaBackend::swiglu(Tensor out, Tensor gate_up) {
  if (out.dtype != DType::BF16 || gate_up.dtype != DType::BF16)
    fail(ErrorCode::InvalidArgument, "swiglu: expects bf16 out and gate_up");
  check_swiglu(out, gate_up);
  const int64_t rows = out.rows, inter = out.cols;
  if (rows * inter == 0) return;
  auto* o = static_cast<bf16*>(out.data);
  auto* in = static_cast<const bf16*>(gate_up.data);
  const bool vec = inter % 8 == 0 && aligned16(o) && aligned16(in);
  const int64_t work = vec ? rows * inter / 8 : rows * inter;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((work + threads - 1) / threads, (int64_t)num_sms_ * 16);
  const unsigned grid = (unsigned)std::max<int64_t>(1, blocks);
  if (vec)
    launch_kernel(pdl_, swiglu_vec_kernel, grid, threads, 0, stream_, o, in, rows, inter);
  else
    launch_kernel(pdl_, swiglu_scalar_kernel, grid, threads, 0, stream_, o, in, rows, inter);
  check_launch();
}

}  // namespace gpubench
