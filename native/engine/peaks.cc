#include "engine/peaks.h"

#include <algorithm>
#include <vector>

namespace gpubench {

namespace {

// The fastest of `reps` timed calls after one untimed call (plan selection, tuning): a peak is
// the best rate the device shows, so that no kernel of a forward pass beats its floor. Not a
// longer run: after 200 ms of back-to-back 8192^3 GEMMs an H100 settles ~8% below the rate the
// forward pass's own large GEMMs reach between memory-bound kernels (docs/perf.md).
template <typename F>
double fastest_ms(Backend& be, int reps, F&& fn) {
  Event a = be.event_create(), b = be.event_create();
  fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    be.event_record(a);
    fn();
    be.event_record(b);
    be.synchronize();
    ms.push_back(be.event_elapsed_ms(a, b));
  }
  be.event_destroy(a);
  be.event_destroy(b);
  return *std::min_element(ms.begin(), ms.end());
}

}  // namespace

Peaks measure_peaks(Backend& be) {
  const bool cpu = be.act_dtype() == DType::F32;
  Peaks p;
  p.copy_bytes = cpu ? (256ll << 20) : (2ll << 30);
  p.gemm_m = p.gemm_n = p.gemm_k = cpu ? 1024 : 8192;

  // A copy reads and writes every byte once: 2 x bytes cross the memory bus.
  void* src = be.alloc(p.copy_bytes);
  void* dst = be.alloc(p.copy_bytes);
  int64_t n = p.copy_bytes / 4;
  be.init_dummy(Tensor{src, DType::F32, 1, n}, 1, 1, 1.0f);
  double copy_ms = fastest_ms(be, cpu ? 5 : 20, [&] { be.copy_device(dst, src, p.copy_bytes); });
  be.release(src);
  be.release(dst);
  p.bytes_per_s = 2.0 * p.copy_bytes / (copy_ms / 1e3);

  DType t = be.act_dtype();
  size_t e = dtype_size(t);
  Tensor x{be.alloc(p.gemm_m * p.gemm_k * e), t, p.gemm_m, p.gemm_k};
  Tensor w{be.alloc(p.gemm_n * p.gemm_k * e), t, p.gemm_n, p.gemm_k};
  Tensor y{be.alloc(p.gemm_m * p.gemm_n * e), t, p.gemm_m, p.gemm_n};
  be.init_dummy(x, 2, 2, 1.0f);
  be.init_dummy(w, 3, 3, 1.0f);
  double gemm_ms = fastest_ms(be, cpu ? 3 : 20, [&] { be.matmul(y, x, w, nullptr); });
  be.release(x.data);
  be.release(w.data);
  be.release(y.data);
  p.flops_per_s = 2.0 * p.gemm_m * p.gemm_n * p.gemm_k / (gemm_ms / 1e3);
  return p;
}

}  // namespace gpubench
