// moe_grouped_gemm: the grouped GEMM of moe_experts (steps 2 and 4 in moe.cu), out[j] =
// A[j] w_e^T for every sorted row j of every expert e, on the tensor cores (mma.sync m16n8k16,
// cp.async + ldmatrix: common.cuh's primitives, used as in attention_prefill.cu). The grid covers
// the most row tiles any routing can need; each CTA finds its (expert, row tile) from the
// device-side offsets, and CTAs past the last tile exit. With order set, A's rows are the
// tokens' rows, gathered through order as they are copied in, so no sorted copy of x is written.
//
// On Hopper the prefill tiles run moe_grouped_gemm_sm90.cu's wgmma kernel instead. Room left for
// speed: split-K when a decode step's few experts leave SMs idle, and 16-byte output stores.
#include <cuda_runtime.h>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/moe_grouped_gemm.cuh"

namespace gpubench {

namespace {

// A tile configuration: BM sorted rows of one expert x BN output columns per CTA, its warps
// WARPS_M x WARPS_N over the tile, the reduction in STAGES-deep cp.async stages of BK.
template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int STAGES_, int BK_>
struct Tiles {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, STAGES = STAGES_, BK = BK_;
  static constexpr int kThreads = 32 * WARPS_M * WARPS_N;
  // Shared rows padded by 16 bytes, so the 8 row addresses of each ldmatrix phase fall in 8
  // different 16-byte bank groups.
  static constexpr int kRow = BK + 8;
  static constexpr size_t kSmemBytes = (size_t)STAGES * (BM + BN) * kRow * sizeof(bf16);
};
// Decode: 16-row tiles, 4 warps side by side over 64 columns, 4 stages of 64 deep (3 tiles ahead:
// 24 KiB of weights in flight per CTA, each weight row read in 128-byte pieces, for the
// memory-bound stream).
using DecodeTiles = Tiles<kSmallBM, 64, 1, 4, 4, 64>;
// Prefill: 128 x 128 tiles, 4 warps of 64 x 64 (each fragment read from shared memory feeds 8
// MMAs), 3 stages of 64 deep (one barrier per 4 k steps), 108 KiB of dynamic shared memory. Of
// the configurations timed on the H100 (qwen3-30b-a3b and deepseek-v2-lite, 8 x 1024 prefill,
// 8 layers), this was the fastest: 9% and 6% over 8 warps of 64 x 32 with 4 stages of 32;
// 128 x 256 tiles of 8 such warps were no faster.
using PrefillTiles = Tiles<kLargeBM, 128, 2, 2, 3, 64>;

// One CTA: a T::BM x T::BN tile over the whole reduction. Rows past the expert's, columns past n
// and reduction steps past k are zero-filled in shared memory (a NaN there would reach valid
// outputs through the K dimension), and never stored.
template <class T>
__global__ void __launch_bounds__(T::kThreads) grouped_gemm_kernel(GroupedGemm g) {
  start_dependent_kernel();
  constexpr int BM = T::BM, kBN = T::BN, WARPS_M = T::WARPS_M, WARPS_N = T::WARPS_N;
  constexpr int STAGES = T::STAGES, BK = T::BK, kRow = T::kRow, kGemmThreads = T::kThreads;
  constexpr int WM = BM / WARPS_M, WN = kBN / WARPS_N;
  constexpr int MT = WM / 16, NT = WN / 8;  // mma tiles per warp
  static_assert(MT >= 1 && WM % 16 == 0 && NT % 2 == 0, "warp tile of whole 16 x 16 mma pairs");
  constexpr int kChunks = BK / 8;  // 16-byte chunks per shared row
  constexpr int kALoads = (BM * kChunks + kGemmThreads - 1) / kGemmThreads;
  constexpr int kBLoads = kBN * kChunks / kGemmThreads;
  static_assert(kBN * kChunks % kGemmThreads == 0, "whole B chunks per thread");
  extern __shared__ uint4 smem_raw[];  // T::kSmemBytes: the A stages, then the B stages
  auto* sa = reinterpret_cast<bf16(*)[BM][kRow]>(smem_raw);
  auto* sb = reinterpret_cast<bf16(*)[kBN][kRow]>(&sa[STAGES][0][0]);

  const TileRef tile = find_tile<BM>(g.offsets, g.experts, blockIdx.y);
  if (tile.expert < 0) return;  // the grid covers the worst routing; this step has fewer tiles
  const int n0 = blockIdx.x * kBN;
  const int tid = threadIdx.x;

  // Each thread copies the same chunks at every stage, so its source rows are fixed here
  // (null: zero-fill).
  const bf16* a_src[kALoads];
#pragma unroll
  for (int j = 0; j < kALoads; ++j) {
    const int r = (tid + j * kGemmThreads) / kChunks;
    a_src[j] = nullptr;
    if (r < tile.rows) {
      const int row = tile.row0 + r;
      a_src[j] = g.in + (int64_t)(g.order ? g.order[row] / g.top_k : row) * g.k;
    }
  }
  const bf16* w_expert = g.w + (int64_t)tile.expert * g.n * g.k;
  const bf16* b_src[kBLoads];
#pragma unroll
  for (int j = 0; j < kBLoads; ++j) {
    const int r = (tid + j * kGemmThreads) / kChunks;
    b_src[j] = n0 + r < g.n ? w_expert + (int64_t)(n0 + r) * g.k : nullptr;
  }
  auto load_stage = [&](int stage, int kt) {
    const int k0 = kt * BK;
#pragma unroll
    for (int j = 0; j < kALoads; ++j) {
      const int i = tid + j * kGemmThreads;
      if (BM * kChunks % kGemmThreads != 0 && i >= BM * kChunks) break;
      const int r = i / kChunks, c = (i % kChunks) * 8;
      const bool valid = a_src[j] && k0 + c < g.k;
      cp_async_16(&sa[stage][r][c], valid ? a_src[j] + k0 + c : g.in, valid);
    }
#pragma unroll
    for (int j = 0; j < kBLoads; ++j) {
      const int i = tid + j * kGemmThreads;
      const int r = i / kChunks, c = (i % kChunks) * 8;
      const bool valid = b_src[j] && k0 + c < g.k;
      cp_async_16(&sb[stage][r][c], valid ? b_src[j] + k0 + c : g.w, valid);
    }
  };

  const int warp = tid / 32, lane = tid % 32;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  // A warp whose rows or columns all lie past the tile's skips the math (it still copies and
  // meets every barrier).
  const bool active = wm * WM < tile.rows && n0 + wn * WN < g.n;
  float acc[MT][NT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0.0f;

  // One commit group per k tile, empty ones included, so wait_group<STAGES - 2> at tile kt means
  // tiles 0..kt have landed.
  const int ktiles = (g.k + BK - 1) / BK;
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();
  }
  const int gi = lane / 8, gr = lane % 8;  // ldmatrix: lane group gi gives the rows of matrix gi
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile kt is visible to all, and every warp is done with tile kt - 1's stage
    if (kt + STAGES - 1 < ktiles) load_stage((kt + STAGES - 1) % STAGES, kt + STAGES - 1);
    cp_async_commit();
    if (!active) continue;
    const int st = kt % STAGES;
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) {
      uint32_t af[MT][4];  // matrices: (rows +0, k +0), (+8, +0), (+0, +8), (+8, +8)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        ldmatrix_x4(af[mt], &sa[st][wm * WM + mt * 16 + (gi & 1) * 8 + gr][kk * 16 + (gi >> 1) * 8]);
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t b[4];  // matrices: (cols +0, k +0), (cols +0, k +8), (+8, +0), (+8, +8)
        ldmatrix_x4(b, &sb[st][wn * WN + np * 16 + (gi >> 1) * 8 + gr][kk * 16 + (gi & 1) * 8]);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_bf16(acc[mt][2 * np], af[mt], b[0], b[1]);
          mma_bf16(acc[mt][2 * np + 1], af[mt], b[2], b[3]);
        }
      }
    }
  }
  if (!active) return;

  // C fragment c[i]: row lane / 4 + 8 (i >> 1), column 2 (lane % 4) + (i & 1); n is a multiple
  // of 8, so a pair is either wholly inside or wholly past it.
  const int fr = lane / 4, fc = 2 * (lane % 4);
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = wm * WM + mt * 16 + fr + 8 * h, col = n0 + wn * WN + nt * 8 + fc;
        if (r < tile.rows && col < g.n)
          *reinterpret_cast<uint32_t*>(g.out + (int64_t)(tile.row0 + r) * g.n + col) =
              pack_bf16x2(acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1]);
      }
}

template <class T>
void launch(const GroupedGemm& g, int64_t slots, cudaStream_t stream, bool pdl) {
  const dim3 grid((unsigned)((g.n + T::BN - 1) / T::BN), (unsigned)max_row_tiles(slots, g.experts, T::BM));
  CUDA_CHECK(cudaFuncSetAttribute(grouped_gemm_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)T::kSmemBytes));
  launch_kernel(pdl, grouped_gemm_kernel<T>, grid, T::kThreads, T::kSmemBytes, stream, g);
  check_launch();
}

}  // namespace

// The general path: one thread per output element of the sorted rows, its expert found by a
// binary search of the offsets, fp32 accumulation in k order; any width and alignment.
__global__ void general_grouped_gemm_kernel(GroupedGemm g, int64_t slots) {
  const int64_t total = slots * g.n, step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t j = i / g.n, c = i % g.n;
    int lo = 0, hi = g.experts;  // the expert e with offsets[e] <= j < offsets[e + 1]
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (g.offsets[mid] <= j) lo = mid;
      else hi = mid;
    }
    const bf16* a = g.in + (g.order ? (int64_t)(g.order[j] / g.top_k) : j) * g.k;
    const bf16* w = g.w + ((int64_t)lo * g.n + c) * g.k;
    float acc = 0.0f;
    for (int kk = 0; kk < g.k; ++kk) acc += __bfloat162float(a[kk]) * __bfloat162float(w[kk]);
    g.out[j * g.n + c] = __float2bfloat16_rn(acc);
  }
}

void launch_general_grouped_gemm(const GroupedGemm& g, int64_t slots, int num_sms, cudaStream_t stream) {
  const int64_t total = slots * g.n;
  const unsigned grid = (unsigned)std::max<int64_t>(1, std::min<int64_t>((total + 255) / 256, (int64_t)num_sms * 32));
  general_grouped_gemm_kernel<<<grid, 256, 0, stream>>>(g, slots);
  check_launch();
}

void launch_grouped_gemm(const GroupedGemm& g, int64_t slots, int bm, bool wgmma, cudaStream_t stream, bool pdl) {
  if (bm == kSmallBM) launch<DecodeTiles>(g, slots, stream, pdl);
  else if (wgmma) launch_wgmma_grouped_gemm(g, slots, stream);
  else launch<PrefillTiles>(g, slots, stream, pdl);
}

}  // namespace gpubench
