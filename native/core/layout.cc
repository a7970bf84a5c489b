#include "core/layout.h"

#include <string>

#include "base/error.h"

namespace gpubench {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

void divides(int64_t parts, int64_t n, const std::string& what, const std::string& by) {
  if (n % parts) {
    fail(ErrorCode::InvalidConfig, what + " " + str(n) + " is not divisible by " + by + " " + str(parts) +
                                       " (allowed: a " + by + " that divides it)");
  }
}

bool has_dense_layer(const ModelSpec& s) {
  for (int64_t l = 0; l < s.num_layers; ++l)
    if (!s.layer_is_moe(l)) return true;
  return false;
}

// Part `i` of `parts` equal parts of n.
Span part(int64_t n, int64_t parts, int64_t i) { return Span{i * (n / parts), n / parts}; }

}  // namespace

void validate_layout(const ModelSpec& s, const Layout& l) {
  if (l.tp < 1 || l.dp < 1 || l.ep < 1) {
    fail(ErrorCode::InvalidArgument, "tp " + str(l.tp) + ", dp " + str(l.dp) + ", ep " + str(l.ep) +
                                         " is not a layout (allowed: positive integers)");
  }
  if (l.world() % l.ep) {
    fail(ErrorCode::InvalidArgument, "ep " + str(l.ep) + " does not divide tp * dp = " + str(l.world()) +
                                         " (allowed: the expert-parallel ranks are some of the tp * dp ranks)");
  }
  if (l.ep > 1 && !s.is_moe()) {
    fail(ErrorCode::InvalidConfig, "ep " + str(l.ep) + " needs a model with experts; model_type '" + s.model_type +
                                       "' has none (allowed: ep 1)");
  }
  divides(l.tp, s.num_heads, "num_attention_heads", "tp");
  if (!s.is_mla()) {
    const int64_t kv = s.num_kv_heads;
    if (kv >= l.tp ? kv % l.tp : l.tp % kv) {
      fail(ErrorCode::InvalidConfig, "num_key_value_heads " + str(kv) + " and tp " + str(l.tp) +
                                         " do not split evenly (allowed: tp dividing the KV heads, or a multiple of them)");
    }
  }
  if (has_dense_layer(s)) divides(l.tp, s.intermediate_size, "intermediate_size", "tp");
  if (s.is_moe()) {
    divides(l.ep, s.moe.num_experts, "the number of experts", "ep");
    divides(l.moe_tp(), s.moe.expert_intermediate_size, "moe_intermediate_size", "tp * dp / ep");
    if (s.moe.shared_intermediate_size > 0) {
      divides(l.world(), s.moe.shared_intermediate_size, "the shared expert's intermediate size", "tp * dp");
    }
  }
}

bool layout_has_collectives(const ModelSpec& s, const Layout& l) { return l.tp > 1 || (s.is_moe() && l.dp > 1); }

ShardSpec shard_spec(const ModelSpec& s, const Layout& l, int64_t rank) {
  ShardSpec z;
  z.layout = l;
  z.rank = rank;
  z.tp_rank = rank % l.tp;
  z.dp_rank = rank / l.tp;
  z.ep_rank = rank / l.moe_tp();
  z.moe_tp_rank = rank % l.moe_tp();
  z.q_heads = part(s.num_heads, l.tp, z.tp_rank);
  if (s.is_mla()) {
    z.kv_heads = z.q_heads;  // MLA caches one latent row per token, read by every head
  } else if (s.num_kv_heads >= l.tp) {
    z.kv_heads = part(s.num_kv_heads, l.tp, z.tp_rank);
  } else {
    // As vLLM: tp / num_kv_heads ranks share each KV head, the one their q heads read.
    z.kv_heads = Span{z.tp_rank / (l.tp / s.num_kv_heads), 1};
  }
  z.mlp = part(s.intermediate_size, l.tp, z.tp_rank);
  z.local = s;
  z.local.num_heads = z.q_heads.size;
  z.local.num_kv_heads = z.kv_heads.size;
  z.local.intermediate_size = z.mlp.size;
  if (s.is_moe()) {
    z.experts = part(s.moe.num_experts, l.ep, z.ep_rank);
    z.expert_inter = part(s.moe.expert_intermediate_size, l.moe_tp(), z.moe_tp_rank);
    z.shared_inter = part(s.moe.shared_intermediate_size, l.world(), rank);
    z.local.moe.expert_intermediate_size = z.expert_inter.size;
    z.local.moe.shared_intermediate_size = z.shared_inter.size;
  }
  return z;
}

}  // namespace gpubench
