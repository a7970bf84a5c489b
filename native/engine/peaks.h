// The device's peaks, measured with the backend's own ops in the same run as the benchmark
// (docs/architecture.md, "Timing method"): a large device-to-device copy for bytes/s and a large
// GEMM for FLOP/s.
#pragma once
#include <cstdint>

#include "backend/backend.h"

namespace gpubench {

// The timed calls behind one peak (the peak is the fastest of them): how still it held.
struct PeakCalls {
  int warmup = 0;  // untimed calls first
  int count = 0;   // timed calls
  double min_ms = 0, median_ms = 0, max_ms = 0;
};

struct Peaks {
  double bytes_per_s = 0;
  double flops_per_s = 0;
  int64_t copy_bytes = 0;
  int64_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
  PeakCalls copy, gemm;
};

// Sizes: 8192^3 GEMM and a 2 GiB copy on a GPU; 1024^3 and 256 MiB on the CPU. The method is in
// docs/perf.md ("Peaks").
Peaks measure_peaks(Backend& be);

}  // namespace gpubench
