// The GEMM kernel a backend chose for one problem shape, recorded so that a result says which
// kernel its numbers came from (CUDA: cuBLASLt's algorithm configuration; the CPU has none).
#pragma once
#include <cstdint>
#include <string>

namespace gpubench {

struct GemmAlgo {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  // "cublasLt", or "gpubench_small_m" (the backend's own decode kernel; the fields below stay 0).
  std::string kernel;
  // cuBLASLt's CUBLASLT_ALGO_CONFIG_* values of the chosen algorithm.
  int32_t algo_id = 0;
  uint32_t tile = 0, stages = 0, split_k = 0, reduction = 0, swizzle = 0, custom = 0;
  uint32_t inner_shape = 0, cluster_shape = 0;
  int candidate = 0;   // its index in the heuristic's order (0: the heuristic's first; the own kernel last)
  int candidates = 0;  // how many were weighed (the heuristic's, plus the own kernel where it fits)
  double first_us = 0, chosen_us = 0;  // median times with L2 flushed (0: not timed)
};

}  // namespace gpubench
