// Scratch buffers of one forward pass, sized for the largest step the engine runs.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/spec.h"

namespace gpubench {

struct Activations {
  Tensor residual, normed, qkv, attn, delta, gate_up, mlp;  // [max_tokens, *]
  Tensor last_hidden;                                       // [max_seqs, hidden]
  Tensor logits;                                            // [max_seqs, vocab], F32
  int32_t* next_tokens = nullptr;                           // [max_seqs]
  // MoE models: router logits [max_tokens, E] (F32); the router's ids and weights in two slots of
  // [max_tokens * top_k] (slot 0 holds the first MoE layer's, kept for the expert counts; later
  // layers share slot 1); moe_experts' scratch (see MoeWorkspace).
  Tensor router_logits, moe_rows, moe_gate_up, moe_act;
  int32_t* topk_ids = nullptr;
  float* topk_weights = nullptr;
  int32_t* moe_index = nullptr;

  Activations(Backend& be, const ModelSpec& spec, int64_t max_tokens, int64_t max_seqs);
  ~Activations();
  Activations(const Activations&) = delete;
  Activations& operator=(const Activations&) = delete;
  static size_t bytes_for(const ModelSpec& spec, DType dtype, int64_t max_tokens, int64_t max_seqs);

 private:
  Backend& be_;
  std::vector<void*> allocations_;
};

}  // namespace gpubench
