// The device's peaks, measured with the backend's own ops in the same run as the benchmark
// (docs/architecture.md, "Timing method"): a large device-to-device copy for bytes/s and a large
// GEMM for FLOP/s.
#pragma once
#include <cstdint>

#include <vector>

#include "backend/backend.h"
#include "core/communicator.h"

namespace gpubench {

// The timed calls behind one peak (the peak is the fastest of them): how still it held.
struct PeakCalls {
  int warmup = 0;  // untimed calls first
  int count = 0;   // timed calls
  double min_ms = 0, median_ms = 0, max_ms = 0;
};

// The bus bandwidth of an all-reduce over a layout's group, as nccl-tests reports it (busbw): the
// bytes each rank moves, S * 2(n - 1) / n, over the median call's time.
struct BusPeak {
  double bytes_per_s = 0;  // 0: not measured (one rank, or a simulated layout: no link to measure)
  int64_t bytes = 0;       // S, the all-reduced tensor
  int ranks = 0;           // n
  PeakCalls calls;         // each call the slowest rank's time
};

struct Peaks {
  double bytes_per_s = 0;
  double flops_per_s = 0;
  int64_t copy_bytes = 0;
  int64_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
  PeakCalls copy, gemm;
  BusPeak bus;
};

// Sizes: 8192^3 GEMM and a 2 GiB copy on a GPU; 1024^3 and 256 MiB on the CPU. The method is in
// docs/perf.md ("Peaks").
Peaks measure_peaks(Backend& be);

// The all-reduced size: 64 MiB on a GPU, 16 MiB on the CPU.
int64_t bus_bytes(Backend& be);
constexpr int kBusWarmup = 1, kBusCalls = 7;
// One rank's part of the bus measurement, called by every rank of comm at once: kBusWarmup untimed
// all-reduces of `bytes`, then kBusCalls timed ones; each timed call's ms on this rank.
std::vector<double> time_all_reduce(Backend& be, Communicator& comm, int64_t bytes);
// The bus peak from every rank's times (rank_ms[r][i]: rank r's call i): a call ends when its
// slowest rank does; the median call gives the rate.
BusPeak bus_peak(const std::vector<std::vector<double>>& rank_ms, int64_t bytes, int ranks);

}  // namespace gpubench
