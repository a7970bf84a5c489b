// argmax: greedy sampling over fp32 logits, one row per sequence.
#include "backend/cpu/cpu_backend.h"

namespace gpubench {

void CpuBackend::argmax(int32_t* out, Tensor logits) {
  check_f32("argmax", "logits", logits);
  if (logits.cols < 1) invalid("argmax", "logits has 0 columns");
  pool_.parallel_for(logits.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* l = static_cast<const float*>(logits.row(r).data);
      int64_t best = 0;
      // Strictly greater: the first of equal maxima wins.
      for (int64_t i = 1; i < logits.cols; ++i)
        if (l[i] > l[best]) best = i;
      out[r] = (int32_t)best;
    }
  }, grain_for(logits.cols));
}

}  // namespace gpubench
