// activation: SwiGLU over a fused gate_up projection, out = silu(gate) * up.
#include <cmath>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

void CpuBackend::swiglu(Tensor out, Tensor gate_up) {
  check_f32("swiglu", "out", out);
  check_f32("swiglu", "gate_up", gate_up);
  check_swiglu(out, gate_up);
  int64_t I = out.cols;
  pool_.parallel_for(out.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* g = static_cast<const float*>(gate_up.row(r).data);
      const float* u = g + I;
      float* o = static_cast<float*>(out.row(r).data);
      for (int64_t i = 0; i < I; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    }
  }, grain_for(20 * I));
}

}  // namespace gpubench
