// Mixture-of-experts feed-forward block (mixtral, qwen2_moe, qwen3_moe, deepseek): the router GEMM
// and its top-k, the shared expert where the model has one (qwen2_moe's scaled by its sigmoid gate),
// then the routed SwiGLU experts added on top. Under a pinned routing policy the router still runs
// (its cost is part of the step) but the experts take the pinned ids and weights. Under a parallel
// layout every rank routes every token (the router is replicated) and runs its own experts and
// columns; one all-reduce sums the ranks' parts.
#include "model/forward.h"

namespace gpubench {

namespace {

MoeRouteParams route_params(const ModelSpec& s, const LayerWeights& L) {
  const MoeSpec& m = s.moe;
  MoeRouteParams p;
  p.num_experts = (int)m.num_experts;
  p.top_k = (int)m.top_k;
  p.scoring = m.scoring == "sigmoid" ? MoeScoring::Sigmoid : MoeScoring::Softmax;
  p.method = m.topk_method == "noaux_tc"               ? MoeTopk::NoauxTc
             : m.topk_method == "group_limited_greedy" ? MoeTopk::GroupLimitedGreedy
                                                       : MoeTopk::Greedy;
  p.n_group = (int)m.n_group;
  p.topk_group = (int)m.topk_group;
  p.norm_topk_prob = m.norm_topk_prob;
  p.routed_scaling_factor = (float)m.routed_scaling_factor;
  p.correction_bias = p.method == MoeTopk::NoauxTc ? static_cast<const float*>(L.router_bias.data) : nullptr;
  return p;
}

// Index of layer l among the layers with an MoE block.
int64_t moe_index(const ModelSpec& s, int l) {
  int64_t m = 0;
  for (int i = 0; i < l; ++i) m += s.layer_is_moe(i) ? 1 : 0;
  return m;
}

// The block over rows x [n, D] (the step's tokens, or under DP attention every DP group's) into
// out [n, D]: this rank's part of it (its experts, their intermediate columns and its columns of
// the shared expert), which the ranks' collective then sums.
void moe_block(const ForwardArgs& a, int l, Tensor x, Tensor out) {
  Backend& be = a.be;
  const ModelSpec& s = a.spec;
  const LayerWeights& L = a.w.layers[l];
  const int64_t n = x.rows, K = s.moe.top_k, Is = s.moe.shared_intermediate_size;
  const int64_t m = moe_index(s, l);

  // Slot 0 keeps the main model's first MoE layer's choice (the expert counts of a result); the rest,
  // MTP layers included, share slot 1.
  const int64_t slot = m == 0 && l < s.num_layers ? 0 : n * K;
  int32_t* ids = a.act.topk_ids + slot;
  float* weights = a.act.topk_weights + slot;
  Tensor logits = a.act.router_logits.first_rows(n);
  { OpScope o(a.prof, "matmul.router", l); be.matmul(logits, x, L.router, nullptr); }
  { OpScope o(a.prof, "moe_route", l); be.moe_route(ids, weights, logits, route_params(s, L)); }

  const bool have_shared = Is > 0;
  if (have_shared) {
    Tensor gate_up = scratch(a.act.gate_up, n, 2 * Is), mlp = scratch(a.act.mlp, n, Is);
    { OpScope o(a.prof, "matmul.shared_gate_up", l); be.matmul(gate_up, x, L.shared_gate_up, nullptr); }
    { OpScope o(a.prof, "swiglu", l); be.swiglu(mlp, gate_up); }
    { OpScope o(a.prof, "matmul.shared_down", l); be.matmul(out, mlp, L.shared_down, nullptr); }
    if (s.moe.shared_expert_gate) {
      OpScope o(a.prof, "sigmoid_gate", l);
      be.sigmoid_gate(out, x, L.shared_gate);
    }
  }

  MoeWorkspace ws{a.act.moe_rows.first_rows(n * K), a.act.moe_gate_up.first_rows(n * K),
                  a.act.moe_act.first_rows(n * K), a.act.moe_index};
  const int32_t* use_ids = a.pinned ? a.pinned->ids(m) : ids;
  const float* use_weights = a.pinned ? a.pinned->weights(m) : weights;
  OpScope o(a.prof, "moe_experts", l);
  be.moe_experts(out, x, L.experts_gate_up, L.experts_down, use_ids, use_weights, (int)K, have_shared, ws,
                 a.shard.experts.begin, s.moe.num_experts);
}

}  // namespace

void mlp_moe(const ForwardArgs& a, int l) {
  const int64_t T = a.step.num_tokens();
  Tensor normed = a.act.normed.first_rows(T), delta = a.act.delta.first_rows(T);
  if (!a.comm.dp) {
    moe_block(a, l, normed, delta);
    if (a.comm.tp) {
      OpScope o(a.prof, "all_reduce.moe", l);
      a.comm.tp->all_reduce(delta);
    }
    return;
  }
  // DP attention: every DP group's tokens through the block, on every rank; the partial sums added
  // over the DP group, then over the groups, each group keeping its own rows.
  const int64_t n = T * a.comm.dp->size();
  Tensor in = a.act.moe_in.first_rows(n), out = a.act.moe_out.first_rows(n);
  { OpScope o(a.prof, "all_gather.moe", l); a.comm.dp->all_gather(in, normed); }
  moe_block(a, l, in, out);
  if (a.comm.tp) {
    OpScope o(a.prof, "all_reduce.moe", l);
    a.comm.tp->all_reduce(out);
  }
  OpScope o(a.prof, "reduce_scatter.moe", l);
  a.comm.dp->reduce_scatter(delta, out);
}

}  // namespace gpubench
