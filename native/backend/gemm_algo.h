// The GEMM kernel a backend chose for one problem shape, recorded so that a result says which
// kernel its numbers came from (CUDA: cuBLASLt's algorithm configuration; the CPU has none).
#pragma once
#include <cstdint>

namespace gpubench {

struct GemmAlgo {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  // cuBLASLt's CUBLASLT_ALGO_CONFIG_* values of the chosen algorithm.
  int32_t algo_id = 0;
  uint32_t tile = 0, stages = 0, split_k = 0, reduction = 0, swizzle = 0, custom = 0;
  uint32_t inner_shape = 0, cluster_shape = 0;
  int candidate = 0;   // its index in the heuristic's order (0: the heuristic's first)
  int candidates = 0;  // how many the heuristic offered
  double first_us = 0, chosen_us = 0;  // median times with L2 flushed (0: not timed)
};

}  // namespace gpubench
