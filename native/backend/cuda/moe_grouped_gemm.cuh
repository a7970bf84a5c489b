// The grouped GEMM of moe_experts (steps 2 and 4 in moe.cu), on the tensor cores: for every
// expert e, its sorted rows of A times e's weight slab^T. Kernel and launcher in
// moe_grouped_gemm.cu; moe.cu validates the shapes and picks the row tile.
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

// Launches g on `stream` in row tiles of bm rows (kSmallBM or kLargeBM): a grid of
// max_row_tiles(slots, g.experts, bm) row tiles, which the caller keeps within 65535.
void launch_grouped_gemm(const GroupedGemm& g, int64_t slots, int bm, cudaStream_t stream);

}  // namespace gpubench
