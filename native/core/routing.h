// Pinned MoE routing (README.md, "Mixture-of-experts models"). With dummy weights and fake KV the
// router's scores are meaningless, so which experts run would depend on noise; a pinned policy
// decides it instead, deterministically, from (seed, layer, step, token). The router GEMM and
// scoring still run every step (their cost is part of the step); only the experts' ids and
// weights are replaced.
//
//   balanced   slot i of the step's flattened T x top_k list -> expert (i + layer) mod E: every
//              expert gets the same load (within 1 when T * top_k is not a multiple of E)
//   uniform    each token's top_k distinct experts drawn uniformly
//   zipf:<s>   distinct experts drawn with probability proportional to 1 / rank^s, over a rank
//              order of the experts shuffled per layer
//   real       the router's own choice (what generate() and the golden tests use)
//
// Pinned weights are 1/top_k each.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/model_spec.h"

namespace gpubench {

enum class RoutingKind { Real, Balanced, Uniform, Zipf };

// The policy arrives parsed (lib/model/moe-routing.ts reads the option's text); `text` is that text,
// kept only to name the policy in results and traces.
struct RoutingPolicy {
  RoutingKind kind = RoutingKind::Balanced;
  double zipf_s = 0;  // zipf only
  std::string text = "balanced";
  bool pinned() const { return kind != RoutingKind::Real; }
};

// The policy of kind "balanced" | "uniform" | "zipf" (with s > 0) | "real", named `text`; any other
// kind or s is Error(InvalidArgument).
RoutingPolicy routing_policy(const std::string& kind, double zipf_s, const std::string& text);

// The pinned experts of one MoE layer in one step: ids [T * top_k] and weights (1/top_k).
void pin_layer(const RoutingPolicy& p, int64_t num_experts, int64_t top_k, uint64_t seed, int64_t layer,
               int64_t step, int64_t T, int32_t* ids, float* weights);

// Per-expert token counts of ids [n] (the load of each expert).
std::vector<int64_t> expert_load(const int32_t* ids, int64_t n, int64_t num_experts);

// The pinned ids and weights of every MoE layer of a step (the MTP layers' last), in one device
// buffer laid out [moe layer][T][top_k] ids then the same of weights, uploaded before each step; for
// a given T the addresses never change, so a CUDA graph captured for a batch size stays valid. A
// forward of fewer tokens (an MTP draft after the verification) uses the first rows' pins.
class PinnedRouting {
 public:
  PinnedRouting(Backend& be, const ModelSpec& spec, int64_t mtp_layers, int64_t max_tokens);
  ~PinnedRouting();
  PinnedRouting(const PinnedRouting&) = delete;
  PinnedRouting& operator=(const PinnedRouting&) = delete;
  static size_t bytes_for(const ModelSpec& spec, int64_t mtp_layers, int64_t max_tokens);

  // Computes the pins of `step` for T tokens on the host and uploads them.
  void set(const RoutingPolicy& p, uint64_t seed, int64_t step, int64_t T);
  int64_t num_tokens() const { return T_; }
  // Device pointers of MoE layer m (the m-th layer with an MoE block) for the last set().
  const int32_t* ids(int64_t m) const;
  const float* weights(int64_t m) const;
  // Load of each expert at MoE layer m in the last set().
  std::vector<int64_t> counts(int64_t m) const;

 private:
  Backend& be_;
  const ModelSpec& spec_;
  std::vector<int64_t> moe_layers_;  // model layer index of each MoE layer
  int64_t max_tokens_, T_ = 0;
  std::vector<int32_t> host_ids_;
  std::vector<float> host_weights_;
  void* device_ = nullptr;
};

}  // namespace gpubench
