// The grouped GEMM of moe_experts (steps 2 and 4 in moe.cu), on the tensor cores: for every
// expert e, its sorted rows of A times e's weight slab^T. The mma.sync kernel and the launcher in
// moe_grouped_gemm.cu, the wgmma kernel of Hopper's prefill tiles in moe_grouped_gemm_sm90.cu;
// moe.cu validates the shapes and picks the row tile.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/common.cuh"

namespace gpubench {

// out[j] = A[j] w_e^T for every sorted row j of every expert e.
struct GroupedGemm {
  bf16* out;               // [S, n]
  const bf16* in;          // A: [S, k] in sorted order, or (order set) the tokens' rows [T, k]
  const int32_t* order;    // set: A row j is in[order[j] / top_k]
  int top_k;
  const bf16* w;           // [experts * n, k]: expert e's rows [e n, (e + 1) n)
  const int32_t* offsets;  // [experts + 1]
  int experts, n, k;
};

// Row tile heights: kSmallBM while experts get few rows each (decode), kLargeBM when they get
// many (prefill).
constexpr int kSmallBM = 16, kLargeBM = 128;

// The most row tiles of `bm` rows that any routing of `slots` slots to `experts` experts needs:
// u used experts (u <= min(E, S)) own at most sum ceil(n_e / bm) <= u + (S - u) / bm tiles, which
// grows with u.
inline int64_t max_row_tiles(int64_t slots, int64_t experts, int bm) {
  const int64_t used = std::min(slots, experts);
  return used + (slots - used) / bm;
}

struct TileRef {
  int expert, row0, rows;  // expert -1: past the last tile
};

// Row tile `tile` of the expert-major tiling (expert e owns ceil(n_e / BM) consecutive tiles).
// Each lane sums the tiles of a run of consecutive experts, a warp scan places the runs, and the
// lane whose run holds the tile finds its expert. Every warp computes it alike, so the CTA needs
// no barrier for it.
template <int BM>
__device__ inline TileRef find_tile(const int32_t* offsets, int experts, int tile) {
  const int lane = threadIdx.x & 31;
  const int per = (experts + 31) / 32;
  const int lo = min(experts, lane * per), hi = min(experts, lo + per);
  int mine = 0;
  for (int e = lo; e < hi; ++e) mine += (offsets[e + 1] - offsets[e] + BM - 1) / BM;
  int incl = mine;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int n = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += n;
  }
  const unsigned hit = __ballot_sync(0xffffffffu, tile >= incl - mine && tile < incl);
  if (!hit) return {-1, 0, 0};
  const int src = __ffs(hit) - 1;
  TileRef r{-1, 0, 0};
  if (lane == src) {
    int first = incl - mine;  // tiles before expert e
    for (int e = lo; e < hi; ++e) {
      const int rows = offsets[e + 1] - offsets[e], tiles = (rows + BM - 1) / BM;
      if (tile < first + tiles) {
        const int skip = (tile - first) * BM;
        r = {e, offsets[e] + skip, min(BM, rows - skip)};
        break;
      }
      first += tiles;
    }
  }
  r.expert = __shfl_sync(0xffffffffu, r.expert, src);
  r.row0 = __shfl_sync(0xffffffffu, r.row0, src);
  r.rows = __shfl_sync(0xffffffffu, r.rows, src);
  return r;
}

// Launches g on `stream` in row tiles of bm rows (kSmallBM or kLargeBM): a grid of
// max_row_tiles(slots, g.experts, bm) row tiles, which the caller keeps within 65535. With wgmma
// (wgmma_available() said so), the kLargeBM tiles run on Hopper's warpgroup MMA. pdl: the mma.sync
// kernels launch as programmatic dependents (dependent_launch.cuh).
void launch_grouped_gemm(const GroupedGemm& g, int64_t slots, int bm, bool wgmma, cudaStream_t stream, bool pdl);

// The general path for widths or alignments the tensor-core kernels do not take: scalar, any
// n and k (moe_grouped_gemm.cu).
void launch_general_grouped_gemm(const GroupedGemm& g, int64_t slots, int num_sms, cudaStream_t stream);

// The wgmma kernel's launcher (moe_grouped_gemm_sm90.cu).
void launch_wgmma_grouped_gemm(const GroupedGemm& g, int64_t slots, cudaStream_t stream);

}  // namespace gpubench
