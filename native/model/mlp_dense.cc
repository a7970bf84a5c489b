// Dense SwiGLU feed-forward block: one fused gate_up GEMM, silu(gate) * up, the down GEMM; under
// tensor parallelism each rank's intermediate columns, summed by one all-reduce.
#include "model/forward.h"

namespace gpubench {

void mlp_dense(const ForwardArgs& a, int l) {
  Backend& be = a.be;
  const LayerWeights& L = a.w.layers[l];
  const int64_t T = a.step.num_tokens(), I = a.spec.intermediate_size;
  Tensor normed = a.act.normed.first_rows(T), gate_up = scratch(a.act.gate_up, T, 2 * I);
  Tensor mlp = scratch(a.act.mlp, T, I), delta = a.act.delta.first_rows(T);
  { OpScope o(a.prof, "matmul.gate_up", l); be.matmul(gate_up, normed, L.gate_up, nullptr); }
  { OpScope o(a.prof, "swiglu", l); be.swiglu(mlp, gate_up); }
  { OpScope o(a.prof, "matmul.down", l); be.matmul(delta, mlp, L.down, nullptr); }
  if (a.comm.tp) {
    OpScope o(a.prof, "all_reduce.mlp", l);
    a.comm.tp->all_reduce(delta);
  }
}

}  // namespace gpubench
