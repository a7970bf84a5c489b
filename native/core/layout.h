// Parallel layouts (docs/design.md, "Parallel layouts"): which part of the model each rank holds.
// World W = tp * dp ranks; rank r is TP rank r % tp of DP group r / tp. Attention and dense MLPs
// are tensor-parallel within a DP group; every MoE block runs over all W ranks, its experts placed
// on ep ranks and each expert's intermediate split over the other W / ep ("MoE TP", as sglang's
// --ep-size beside --tp-size). One rank is the layout tp = dp = ep = 1, a shard of the whole.
#pragma once
#include <cstdint>

#include "core/model_spec.h"

namespace gpubench {

struct Layout {
  int64_t tp = 1, dp = 1, ep = 1;
  int64_t world() const { return tp * dp; }
  int64_t moe_tp() const { return world() / ep; }
};

// [begin, begin + size) of some dimension of the model.
struct Span {
  int64_t begin = 0, size = 0;
};

// Rank `rank`'s shard. `local` is the model as this rank runs it: the same spec with this rank's
// sizes (num_heads, num_kv_heads, intermediate_size, the experts' and the shared expert's
// intermediate sizes), so the forward pass, the activations and the KV pool size themselves from
// it; num_experts stays the model's (the router is replicated) and `experts` says which this rank
// holds. The spans say where in the model's tensors the shard's blocks lie (weights.cc).
struct ShardSpec {
  Layout layout;
  int64_t rank = 0, tp_rank = 0, dp_rank = 0, ep_rank = 0, moe_tp_rank = 0;
  Span q_heads;       // attention heads (MLA: the heads of q, kv_b_proj and o_proj)
  Span kv_heads;      // GQA KV heads: split, or the one KV head of its q heads when tp > num_kv_heads
  Span mlp;           // the dense MLP's intermediate columns
  Span experts;       // routed experts held
  Span expert_inter;  // each held expert's intermediate columns
  Span shared_inter;  // the shared expert's intermediate columns (split over all W ranks)
  ModelSpec local;
  bool single() const { return layout.world() == 1; }
};

// One-line Error(InvalidConfig) naming what does not divide (heads, KV heads, intermediate sizes,
// experts) and what is allowed; Error(InvalidArgument) for tp, dp, ep below 1 or ep not dividing
// tp * dp.
void validate_layout(const ModelSpec& spec, const Layout& layout);
// Whether the layout's forward passes call any collective: tp > 1 (attention, dense MLP, MoE), or
// an MoE model over DP groups (DP attention's gather and scatter). DP replicas of a dense model
// exchange nothing.
bool layout_has_collectives(const ModelSpec& spec, const Layout& layout);
// Rank `rank`'s shard of a valid layout.
ShardSpec shard_spec(const ModelSpec& spec, const Layout& layout, int64_t rank);

}  // namespace gpubench
