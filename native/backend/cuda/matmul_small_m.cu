// matmul's own kernel for a few rows (decode steps, M <= 8): out[M,N] = x[M,K] * w[N,K]^T (+ bias),
// bf16 in, fp32 accumulation. A decode step's GEMMs only stream weights, so this kernel does
// nothing but that: each warp owns kRows rows of w and walks them with 16-byte loads, several in
// flight, while x (a few KB, shared by every warp) comes from L1. matmul.cu times it beside
// cuBLASLt's candidates and keeps it only where it wins by the clear margin.
// Reference: backend/cpu/matmul.cc (the same op).
//
// Programmatic dependent launch (dependent_launch.cuh): the kernel may start while the kernel
// before it still runs. Its first weight loads need nothing from that kernel, so they are issued
// before start_dependent_kernel(); x is read and out written only after it. The start of the
// weight stream then overlaps the previous kernel's tail.
#include <cuda_runtime.h>

#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/matmul_small_m.h"

namespace gpubench {

namespace {

constexpr int kWarps = 4;  // per block
constexpr int kRows = 2;   // rows of w (columns of out) per warp

// Weights are read once per step and never again before they leave L2: stream them past L1.
__device__ __forceinline__ uint4 load_streaming(const bf16* p) {
  return __ldcs(reinterpret_cast<const uint4*>(p));
}

__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
  float fa[8], fb[8];
  bf16x8_to_f32(a, fa);
  bf16x8_to_f32(b, fb);
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i) s = fmaf(fa[i], fb[i], s);
  return s;
}

// M rows of x; kDepth 32-lane sweeps of 16-byte chunks per row in flight per warp. Chunk c of a
// row holds its elements 8c..8c+7; lane l takes chunks l, l + 32, ...
template <int M, int kDepth, typename Out>
__global__ void __launch_bounds__(kWarps * 32)
    small_m_gemm_kernel(Out* __restrict__ out, const bf16* __restrict__ x, const bf16* __restrict__ w,
                        const bf16* __restrict__ bias, int64_t n, int64_t k, int64_t ld_out, int64_t ld_x,
                        int64_t ld_w) {
  const int lane = threadIdx.x & 31;
  const int64_t row0 = ((int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5)) * kRows;
  const int64_t chunks = k / 8;
  constexpr int kSweep = 32 * kDepth;  // chunks per row per step of the loop

  uint4 next[kDepth][kRows];
  auto load_w = [&](int64_t base) {
#pragma unroll
    for (int d = 0; d < kDepth; ++d)
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int64_t c = base + d * 32 + lane, row = row0 + r;
        next[d][r] = c < chunks && row < n ? load_streaming(w + row * ld_w + c * 8) : make_uint4(0, 0, 0, 0);
      }
  };
  load_w(0);
  start_dependent_kernel();

  float acc[M][kRows] = {};
  for (int64_t base = 0; base < chunks; base += kSweep) {
    uint4 cur[kDepth][kRows];
#pragma unroll
    for (int d = 0; d < kDepth; ++d)
#pragma unroll
      for (int r = 0; r < kRows; ++r) cur[d][r] = next[d][r];
    if (base + kSweep < chunks) load_w(base + kSweep);
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      const int64_t c = base + d * 32 + lane;
      if (c >= chunks) break;
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + m * ld_x + c * 8));
#pragma unroll
        for (int r = 0; r < kRows; ++r) acc[m][r] += dot8(cur[d][r], xv);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[m][r] = warp_sum(acc[m][r]);
  if (lane != 0) return;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t row = row0 + r;
    if (row >= n) break;
    const float b = bias ? __bfloat162float(bias[row]) : 0.0f;
#pragma unroll
    for (int m = 0; m < M; ++m) {
      if constexpr (sizeof(Out) == 4)
        out[m * ld_out + row] = acc[m][r] + b;
      else
        out[m * ld_out + row] = __float2bfloat16_rn(acc[m][r] + b);
    }
  }
}

template <int M, typename Out>
void launch(const SmallMGemm& g, cudaStream_t stream, bool pdl) {
  // One row of x needs few registers: keep more weight loads in flight.
  constexpr int kDepth = M <= 2 ? 4 : 2;
  const dim3 grid((unsigned)((g.n + kWarps * kRows - 1) / (kWarps * kRows)));
  launch_kernel(pdl, small_m_gemm_kernel<M, kDepth, Out>, grid, dim3(kWarps * 32), 0, stream, static_cast<Out*>(g.out),
                g.x, g.w, g.bias, g.n, g.k, g.ld_out, g.ld_x, g.ld_w);
  check_launch();
}

template <typename Out>
void launch_rows(const SmallMGemm& g, cudaStream_t stream, bool pdl) {
  switch (g.m) {
    case 1: return launch<1, Out>(g, stream, pdl);
    case 2: return launch<2, Out>(g, stream, pdl);
    case 3: return launch<3, Out>(g, stream, pdl);
    case 4: return launch<4, Out>(g, stream, pdl);
    case 5: return launch<5, Out>(g, stream, pdl);
    case 6: return launch<6, Out>(g, stream, pdl);
    case 7: return launch<7, Out>(g, stream, pdl);
    default: return launch<8, Out>(g, stream, pdl);
  }
}

}  // namespace

bool small_m_gemm_fits(const SmallMGemm& g) {
  return g.m >= 1 && g.m <= kSmallMGemmMaxRows && g.k % 8 == 0 && g.ld_x % 8 == 0 && g.ld_w % 8 == 0 &&
         aligned16(g.x) && aligned16(g.w);
}

void small_m_gemm(const SmallMGemm& g, cudaStream_t stream, bool pdl) {
  if (g.out_f32)
    launch_rows<float>(g, stream, pdl);
  else
    launch_rows<bf16>(g, stream, pdl);
}

}  // namespace gpubench
