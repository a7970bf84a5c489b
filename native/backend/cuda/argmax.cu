// argmax: out[r] = index of the largest logits[r] (F32), the lowest index on ties.
// Reference: backend/cpu/argmax.cc.
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"

namespace gpubench {

namespace {

constexpr int kThreads = 512;

// One block per row. The row is read as float4 when possible; each thread keeps its best (Best,
// common.cuh, from (-inf, INT_MAX): an all -inf row yields index 0), then a warp shuffle and a
// shared-memory pass reduce the block.
__global__ void argmax_kernel(int32_t* out, const float* logits, int64_t cols) {
  start_dependent_kernel();
  const float* row = logits + blockIdx.x * cols;
  Best b{-INFINITY, INT_MAX};
  const bool vec = cols % 4 == 0 && aligned16(logits);
  const int64_t nvec = vec ? cols / 4 : 0;
  for (int64_t u = threadIdx.x; u < nvec; u += blockDim.x) {
    const float4 f = reinterpret_cast<const float4*>(row)[u];
    const int i = (int)(u * 4);
    consider(b, f.x, i);
    consider(b, f.y, i + 1);
    consider(b, f.z, i + 2);
    consider(b, f.w, i + 3);
  }
  for (int64_t c = nvec * 4 + threadIdx.x; c < cols; c += blockDim.x) consider(b, row[c], (int)c);

#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    consider(b, __shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.i, o));
  __shared__ Best warp_best[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_best[warp] = b;
  __syncthreads();
  if (warp == 0) {
    b = lane < (int)(blockDim.x >> 5) ? warp_best[lane] : Best{-INFINITY, INT_MAX};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      consider(b, __shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.i, o));
    if (lane == 0) out[blockIdx.x] = b.i == INT_MAX ? 0 : b.i;
  }
}

}  // namespace

void CudaBackend::argmax(int32_t* out, Tensor logits) {
  if (logits.dtype != DType::F32) fail(ErrorCode::InvalidArgument, "argmax: logits must be f32");
  if (logits.cols >= INT_MAX) fail(ErrorCode::InvalidArgument, "argmax: row too wide");
  if (logits.rows == 0) return;
  launch_kernel(pdl_, argmax_kernel, (unsigned)logits.rows, kThreads, 0, stream_, out,
                static_cast<const float*>(logits.data), logits.cols);
  check_launch();
}

}  // namespace gpubench
