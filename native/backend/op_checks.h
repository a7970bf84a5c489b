// Argument checks shared by every backend's op files: one-line InvalidArgument errors that name
// the op, the tensor and what was expected.
#pragma once
#include <sstream>

#include "backend/backend.h"
#include "base/error.h"

namespace gpubench {

// Throws InvalidArgument with the one-line message "<op>: <parts...>".
template <class... Parts>
[[noreturn]] void invalid(const char* op, const Parts&... parts) {
  std::ostringstream msg;
  msg << op << ": ";
  (msg << ... << parts);
  fail(ErrorCode::InvalidArgument, msg.str());
}

inline void check_shape(const char* op, const char* what, const Tensor& t, int64_t rows, int64_t cols) {
  if (t.rows != rows || t.cols != cols)
    invalid(op, what, " is [", t.rows, ", ", t.cols, "], expected [", rows, ", ", cols, "]");
}

// moe_route's parameters against its router logits (backend.h, MoeRouteParams).
inline void check_route_params(const Tensor& logits, const MoeRouteParams& p) {
  const int E = p.num_experts, K = p.top_k;
  if (E < 1) invalid("moe_route", "num_experts is ", E);
  check_shape("moe_route", "router_logits", logits, logits.rows, E);
  if (K < 1 || K > E) invalid("moe_route", "top_k ", K, " is not in [1, num_experts = ", E, "]");
  if (p.method == MoeTopk::Greedy) return;
  if (p.n_group < 1 || E % p.n_group) invalid("moe_route", "n_group ", p.n_group, " does not divide num_experts ", E);
  if (p.topk_group < 1 || p.topk_group > p.n_group)
    invalid("moe_route", "topk_group ", p.topk_group, " is not in [1, n_group = ", p.n_group, "]");
  if (K > p.topk_group * (E / p.n_group))
    invalid("moe_route", "top_k ", K, " exceeds the experts of topk_group ", p.topk_group, " groups");
  if (p.method == MoeTopk::NoauxTc) {
    if (!p.correction_bias) invalid("moe_route", "noaux_tc needs correction_bias");
    if (E / p.n_group < 2) invalid("moe_route", "noaux_tc ranks groups by their top-2: groups need 2 experts");
  }
}

}  // namespace gpubench
