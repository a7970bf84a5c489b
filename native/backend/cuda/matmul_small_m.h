// matmul's own kernel for decode-sized M (matmul_small_m.cu), beside cuBLASLt in matmul.cu.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace gpubench {

constexpr int64_t kSmallMGemmMaxRows = 8;

// out[m, N] = x[m, K] * w[N, K]^T (+ bias[N]); rows ld_* elements apart; out bf16 or fp32.
struct SmallMGemm {
  void* out;
  const __nv_bfloat16* x;
  const __nv_bfloat16* w;
  const __nv_bfloat16* bias;  // may be null
  bool out_f32;
  int64_t m, n, k, ld_out, ld_x, ld_w;
};

// Whether the kernel takes the problem: 1 <= m <= kSmallMGemmMaxRows, K and the row strides of x
// and w multiples of 8 elements, x and w 16-byte aligned (it reads them 16 bytes at a time).
bool small_m_gemm_fits(const SmallMGemm& g);

// Enqueues it on `stream`; pdl: as a programmatic dependent launch (dependent_launch.cuh).
void small_m_gemm(const SmallMGemm& g, cudaStream_t stream, bool pdl);

}  // namespace gpubench
