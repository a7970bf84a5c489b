// Scratch buffers of one forward pass, sized for the largest step the engine runs.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/model_spec.h"

namespace gpubench {

// The largest step: tokens in one forward, sequences, rows that go through the LM head (one per
// sequence, 1 + drafts per sequence when MTP verifies), whether the MTP layers run, and the tokens
// an MoE block runs on: max_tokens, or under DP attention every DP group's (dp * max_tokens).
struct ActivationSizes {
  int64_t max_tokens = 1, max_seqs = 1, max_logit_rows = 1;
  bool mtp = false;
  int64_t moe_tokens = 1;
};

struct Activations {
  Tensor residual, normed, qkv, attn, delta, gate_up, mlp;  // [max_tokens, *]
  Tensor last_hidden;                                       // [max_logit_rows, hidden]
  Tensor logits;                                            // [max_logit_rows, vocab], F32
  int32_t* next_tokens = nullptr;                           // [max_logit_rows]
  // MoE models, sized for moe_tokens: router logits [moe_tokens, E] (F32); the router's ids and
  // weights in two slots of [moe_tokens * top_k] (slot 0 holds the first MoE layer's, kept for the
  // expert counts; later layers share slot 1); moe_experts' scratch (see MoeWorkspace); under DP
  // attention the gathered rows and the block's output [moe_tokens, hidden].
  Tensor router_logits, moe_rows, moe_gate_up, moe_act, moe_in, moe_out;
  int32_t* topk_ids = nullptr;
  float* topk_weights = nullptr;
  int32_t* moe_index = nullptr;
  // MLA models (attention_mla.cc), [max_tokens, *]: q_a (q_lora), q (H*(nope+rope)), kv_a
  // (kv_lora+rope), q_latent and latent (H*kv_lora, or wider where the decompressed form's
  // buffers, kept in their memory, are); attn above is [max_tokens, H*v] for them.
  Tensor q_a, q, kv_a, q_latent, latent;
  // MTP (mtp.cc): the stacked normed inputs and the two halves of eh_proj [2*max_tokens, hidden],
  // and the MTP hidden state of each sequence's drafted row [max_seqs, hidden].
  Tensor mtp_in, mtp_out, mtp_hidden;

  Activations(Backend& be, const ModelSpec& spec, const ActivationSizes& sizes);
  ~Activations();
  Activations(const Activations&) = delete;
  Activations& operator=(const Activations&) = delete;
  static size_t bytes_for(const ModelSpec& spec, DType dtype, const ActivationSizes& sizes);

 private:
  Backend& be_;
  std::vector<void*> allocations_;
};

}  // namespace gpubench
