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

// A HeadSlices view (backend.h) of the dtype the backend computes in, whose strides describe whole
// slices; a written view's slices must not overlap: they are laid out head-major within a row, or
// row-major within a head. A read view may give every head the same slice (head_stride 0).
inline void check_head_slices(const char* op, const char* what, const Backend::HeadSlices& v, bool written,
                              DType need, const char* backend) {
  if (v.dtype != need) invalid(op, what, " is ", dtype_name(v.dtype), ", the ", backend, " backend needs ", dtype_name(need));
  const bool shared = !written && v.head_stride == 0;
  if (v.rows < 0 || v.heads <= 0 || v.cols <= 0 || v.row_stride < v.cols || (v.head_stride < v.cols && !shared))
    invalid(op, what, ": rows ", v.rows, ", heads ", v.heads, ", cols ", v.cols, ", row_stride ",
            v.row_stride, ", head_stride ", v.head_stride, " do not describe slices");
  const bool by_row = v.row_stride >= (v.heads - 1) * v.head_stride + v.cols;
  const bool by_head = v.head_stride >= (v.rows - 1) * v.row_stride + v.cols;
  if (written && v.rows > 1 && v.heads > 1 && !by_row && !by_head)
    invalid(op, what, ": row_stride ", v.row_stride, " and head_stride ", v.head_stride,
            " make its slices overlap");
}

// matmul_heads' shapes: out [T, H, N] = x [T, H, K] times w [H, N, K] (or [H, K, N] transposed).
inline void check_matmul_heads(const Backend::HeadSlices& out, const Backend::HeadSlices& x,
                               const Backend::HeadSlices& w, bool transpose_w, DType need, const char* backend) {
  const char* op = "matmul_heads";
  check_head_slices(op, "out", out, true, need, backend);
  check_head_slices(op, "x", x, false, need, backend);
  check_head_slices(op, "w", w, false, need, backend);
  const int64_t T = x.rows, H = x.heads, K = x.cols, N = out.cols;
  if (out.rows != T || out.heads != H || w.heads != H)
    invalid(op, "out is ", out.rows, " rows x ", out.heads, " heads, x ", T, " x ", H, ", w has ",
            w.heads, " heads");
  if ((transpose_w ? w.rows : w.cols) != K || (transpose_w ? w.cols : w.rows) != N)
    invalid(op, "w slices are [", w.rows, ", ", w.cols, "], expected [", transpose_w ? K : N, ", ",
            transpose_w ? N : K, "] for x width ", K, " and out width ", N);
}

// attention_dense's views (backend.h): q [T, H, k + k_rope], the key's two parts, v and out [T, H, v]
// (T at least the step's rows: the backend checks those where it can read the metadata).
inline void check_attention_dense(const Backend::HeadSlices& out, const Backend::HeadSlices& q,
                                  const Backend::HeadSlices& k, const Backend::HeadSlices& k_rope,
                                  const Backend::HeadSlices& v, DType need, const char* backend) {
  const char* op = "attention_dense";
  check_head_slices(op, "out", out, true, need, backend);
  check_head_slices(op, "q", q, false, need, backend);
  check_head_slices(op, "k", k, false, need, backend);
  check_head_slices(op, "k_rope", k_rope, false, need, backend);
  check_head_slices(op, "v", v, false, need, backend);
  const int64_t T = q.rows, H = q.heads;
  for (const Backend::HeadSlices* x : {&out, &k, &k_rope, &v})
    if (x->rows != T || x->heads != H)
      invalid(op, "out, k, k_rope and v must be ", T, " rows x ", H, " heads as q, one is ", x->rows, " x ", x->heads);
  if (q.cols != k.cols + k_rope.cols)
    invalid(op, "q is ", q.cols, " wide, the key ", k.cols, " + ", k_rope.cols);
  if (out.cols != v.cols) invalid(op, "out is ", out.cols, " wide, v ", v.cols);
}

// swiglu: out [T, I] from gate_up [T, 2I].
inline void check_swiglu(const Tensor& out, const Tensor& gate_up) {
  check_shape("swiglu", "gate_up", gate_up, out.rows, 2 * out.cols);
}

// rmsnorm and add_rmsnorm: out (and residual) the shape of x, weight [1, x.cols].
inline void check_norm(const char* op, const Tensor& out, const Tensor& x, const Tensor& weight) {
  check_shape(op, "out", out, x.rows, x.cols);
  check_shape(op, "weight", weight, 1, x.cols);
}

inline void check_add_norm(const Tensor& residual, const Tensor& x, const Tensor& weight, const Tensor& out) {
  check_norm("add_rmsnorm", out, x, weight);
  check_shape("add_rmsnorm", "residual", residual, x.rows, x.cols);
}

// embedding: out rows as wide as the table's.
inline void check_embedding(const Tensor& out, const Tensor& table) {
  check_shape("embedding", "out", out, out.rows, table.cols);
}

// rope_kv_write's shapes: q [T, H * d], k and v [T, KVH * d] in rows row_stride elements apart.
// The positions and slots are the backend's to check, where it can read them.
inline void check_rope(const Tensor& q, const Tensor& k, const Tensor& v, int64_t row_stride, int num_heads,
                       const KvLayer& kv) {
  const char* op = "rope_kv_write";
  int64_t hd = kv.head_dim;
  if (hd <= 0 || hd % 2 != 0) invalid(op, "head_dim ", hd, " is not a positive even number");
  if (num_heads <= 0 || kv.num_kv_heads <= 0 || kv.block_size <= 0)
    invalid(op, "num_heads ", num_heads, ", num_kv_heads ", kv.num_kv_heads, " and block_size ",
            kv.block_size, " must be positive");
  check_shape(op, "q", q, q.rows, num_heads * hd);
  check_shape(op, "k", k, q.rows, kv.num_kv_heads * hd);
  check_shape(op, "v", v, q.rows, kv.num_kv_heads * hd);
  if (row_stride < q.cols || row_stride < k.cols)
    invalid(op, "row_stride ", row_stride, " is narrower than a q or k row");
}

// attention's shapes: q [T, H * d] in rows row_stride elements apart, out [T', H * d], H a multiple
// of the KV heads. The step's metadata is the backend's to check, where it can read it.
inline void check_attention(const Tensor& out, const Tensor& q, int64_t row_stride, int num_heads,
                            const KvLayer& kv) {
  const char* op = "attention";
  if (kv.num_kv_heads <= 0 || num_heads <= 0 || num_heads % kv.num_kv_heads != 0)
    invalid(op, "num_heads ", num_heads, " is not a multiple of num_kv_heads ", kv.num_kv_heads);
  if (kv.head_dim <= 0 || kv.block_size <= 0)
    invalid(op, "head_dim ", kv.head_dim, " and block_size ", kv.block_size, " must be positive");
  check_shape(op, "q", q, q.rows, num_heads * kv.head_dim);
  check_shape(op, "out", out, out.rows, num_heads * kv.head_dim);
  if (row_stride < q.cols) invalid(op, "row_stride ", row_stride, " < q width ", q.cols);
}

// matmul's shapes: out [M, N] = x [M, K] times w [N, K]^T, plus bias [1, N].
inline void check_matmul(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor* bias) {
  const int64_t M = x.rows, K = x.cols, N = w.rows;
  check_shape("matmul", "w", w, N, K);
  check_shape("matmul", "out", out, M, N);
  if (bias) check_shape("matmul", "bias", *bias, 1, N);
}

// moe_experts' shapes: out and x [T, D], gate_up [E * 2I, D], down [E * D, I], a workspace for
// T * top_k slots, and experts [expert_begin, expert_begin + E) within [0, num_experts); returns E.
// The expert ids are the backend's to check, where it can read them.
inline int64_t check_moe_experts(const Tensor& out, const Tensor& x, const Tensor& gate_up, const Tensor& down,
                                 int top_k, const MoeWorkspace& ws, int64_t expert_begin, int64_t num_experts) {
  const char* op = "moe_experts";
  const int64_t T = x.rows, D = x.cols, I = down.cols, K = top_k, S = T * K;
  if (K < 1) invalid(op, "top_k is ", K);
  if (D < 1 || I < 1) invalid(op, "hidden ", D, " and intermediate ", I, " must be positive");
  if (down.rows % D) invalid(op, "down has ", down.rows, " rows, not a multiple of hidden ", D);
  const int64_t E = down.rows / D;
  if (E < 1) invalid(op, "down has no experts");
  check_shape(op, "out", out, T, D);
  check_shape(op, "gate_up", gate_up, E * 2 * I, D);
  if (expert_begin < 0 || expert_begin + E > num_experts)
    invalid(op, "experts [", expert_begin, ", ", expert_begin + E, ") are not within the model's ", num_experts);
  if (ws.rows.rows < S || ws.rows.cols != D || ws.gate_up.rows < S || ws.gate_up.cols != 2 * I ||
      ws.act.rows < S || ws.act.cols != I || !ws.index)
    invalid(op, "workspace is too small for ", T, " tokens x top_k ", K);
  return E;
}

// sigmoid_gate: w [1, x.cols], y as many rows as x.
inline void check_sigmoid_gate(const Tensor& y, const Tensor& x, const Tensor& w) {
  check_shape("sigmoid_gate", "w", w, 1, x.cols);
  if (y.rows != x.rows) invalid("sigmoid_gate", "y has ", y.rows, " rows, x has ", x.rows);
}

// The MLA cache layout: one shared KV head of [c | k_pe] rows, no value pool.
inline void check_mla_cache(const char* op, const KvLayer& kv, int64_t rope_dim) {
  if (kv.num_kv_heads != 1 || kv.v != nullptr)
    invalid(op, "the MLA cache has one KV head and no v pool, got num_kv_heads ", kv.num_kv_heads,
            kv.v ? " and a v pool" : "");
  if (kv.block_size <= 0 || kv.head_dim <= rope_dim)
    invalid(op, "block_size ", kv.block_size, " must be positive and head_dim ", kv.head_dim,
            " larger than the rope dim ", rope_dim);
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
