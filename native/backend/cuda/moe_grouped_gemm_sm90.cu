// The prefill grouped GEMM of moe_experts on Hopper's warpgroup MMA (wgmma, sm_90a): the same
// tiling and row gather as grouped_gemm_kernel in moe_grouped_gemm.cu, with each 64-row half of a
// 128 x 128 tile computed by one warpgroup from shared memory, without ldmatrix. cp.async fills
// the stages in the 128-byte swizzled layout wgmma reads (TMA could not gather the rows).
// Reference: moe_experts in backend/cpu/moe.cc, through moe.cu.
#include <cuda_runtime.h>

#include "backend/cuda/check.h"
#include "backend/cuda/moe_grouped_gemm.cuh"
#include "backend/cuda/wgmma.cuh"

namespace gpubench {

namespace {

constexpr int kBM = 128, kBN = 128, kBK = 64, kStages = 3;
constexpr int kThreads = 256;                    // two warpgroups of 64 rows each
constexpr int kTileBytes = kBM * kBK * 2;        // one stage of A (and of B: kBN == kBM)
constexpr int kSmemBytes = 2 * kStages * kTileBytes + 1024;  // + room to align to 1024

__global__ void __launch_bounds__(kThreads) wgmma_grouped_kernel(GroupedGemm g) {
#ifdef GPUBENCH_WGMMA
  extern __shared__ uint8_t smem_raw[];
  const TileRef tile = find_tile<kBM>(g.offsets, g.experts, blockIdx.y);
  if (tile.expert < 0) return;  // the grid covers the worst routing; this step has fewer tiles
  const int n0 = blockIdx.x * kBN;
  const int tid = threadIdx.x;
  // Stage s of A at base + s * kTileBytes, of B after all of A's; 1024-aligned for the swizzle.
  const uint32_t raw = (uint32_t)__cvta_generic_to_shared(smem_raw);
  const uint32_t base = (raw + 1023) & ~1023u;
  const uint32_t b_base = base + kStages * kTileBytes;

  // Each thread copies 4 chunks of 16 bytes of A and of B per stage: rows tid / 8 + 32 j, chunk
  // tid % 8, stored at chunk (c ^ row % 8) of its 128-byte row (the swizzle).
  const int c = tid % 8;
  const bf16* a_src[4];
  const bf16* b_src[4];
  uint32_t dst[4];
  const bf16* w_expert = g.w + (int64_t)tile.expert * g.n * g.k;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int r = tid / 8 + 32 * j;
    a_src[j] = nullptr;
    if (r < tile.rows) {
      const int row = tile.row0 + r;
      a_src[j] = g.in + (int64_t)(g.order ? g.order[row] / g.top_k : row) * g.k;
    }
    b_src[j] = n0 + r < g.n ? w_expert + (int64_t)(n0 + r) * g.k : nullptr;
    dst[j] = swizzle128(r, c);
  }
  auto load_stage = [&](int stage, int kt) {
    const int k = kt * kBK + c * 8;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const bool va = a_src[j] && k < g.k, vb = b_src[j] && k < g.k;
      cp_async_16(base + stage * kTileBytes + dst[j], va ? a_src[j] + k : g.in, va);
      cp_async_16(b_base + stage * kTileBytes + dst[j], vb ? b_src[j] + k : g.w, vb);
    }
  };

  float d[16][4] = {};
  const int wg = tid / 128;  // this warpgroup's 64 rows: wg * 64 ...
  const int ktiles = (g.k + kBK - 1) / kBK;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kStages - 2>();
    // This thread's copies, written through the generic proxy, become visible to wgmma's async
    // proxy; the barrier then publishes everyone's, and tells that the stage about to be
    // refilled (read by the MMAs of tile kt - 1, which every warpgroup waited for) is free.
    fence_proxy_async();
    __syncthreads();
    if (kt + kStages - 1 < ktiles) load_stage((kt + kStages - 1) % kStages, kt + kStages - 1);
    cp_async_commit();
    const int st = kt % kStages;
    const uint32_t a_tile = base + st * kTileBytes + wg * 64 * 128, b_tile = b_base + st * kTileBytes;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk)
      wgmma_m64n128k16(d, k_major_desc(a_tile + kk * 32), k_major_desc(b_tile + kk * 32), 1);
    wgmma_commit();
    wgmma_wait<0>();
  }

  const int warp = (tid % 128) / 32, lane = tid % 32;
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = wg * 64 + warp * 16 + lane / 4 + 8 * h, col = n0 + j * 8 + 2 * (lane % 4);
      if (r < tile.rows && col < g.n)
        *reinterpret_cast<uint32_t*>(g.out + (int64_t)(tile.row0 + r) * g.n + col) =
            pack_bf16x2(d[j][2 * h], d[j][2 * h + 1]);
    }
#endif
}

}  // namespace

void launch_wgmma_grouped_gemm(const GroupedGemm& g, int64_t slots, cudaStream_t stream) {
  const dim3 grid((unsigned)((g.n + kBN - 1) / kBN), (unsigned)max_row_tiles(slots, g.experts, kBM));
  CUDA_CHECK(cudaFuncSetAttribute(wgmma_grouped_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  wgmma_grouped_kernel<<<grid, kThreads, kSmemBytes, stream>>>(g);
  check_launch();
}

}  // namespace gpubench
