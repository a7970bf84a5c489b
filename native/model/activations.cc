#include "model/activations.h"

#include <algorithm>

namespace gpubench {

namespace {
struct Shape {
  Tensor Activations::*member;
  DType dtype;
  int64_t rows, cols;
};

// Width of the dense SwiGLU scratch (gate_up, mlp): the dense MLP's where a layer has one, and
// the MoE shared expert's, which runs through the same buffers (over the MoE block's rows).
int64_t swiglu_width(const ModelSpec& s) {
  int64_t w = s.moe.shared_intermediate_size;
  for (int64_t l = 0; l < s.num_layers; ++l)
    if (!s.layer_is_moe(l)) return std::max(w, s.intermediate_size);
  return w;
}

std::vector<Shape> shapes(const ModelSpec& s, DType act, const ActivationSizes& z) {
  using A = Activations;
  const int64_t T = z.max_tokens, S = z.max_seqs, R = z.max_logit_rows;
  const int64_t MT = s.is_moe() ? std::max(T, z.moe_tokens) : T, gathered = MT > T ? MT : 0;
  const int64_t W = swiglu_width(s), E = s.moe.num_experts, TK = MT * s.moe.top_k;
  const int64_t Ie = s.moe.expert_intermediate_size;
  const MlaSpec& m = s.mla;
  const bool mla = s.is_mla();
  const int64_t H = s.num_heads, D = s.hidden_size, M = z.mtp ? 1 : 0;
  return {
      {&A::residual, act, T, D},  {&A::normed, act, T, D},
      {&A::qkv, act, T, mla ? 0 : s.qkv_dim()},
      {&A::attn, act, T, mla ? H * m.v_head_dim : s.q_dim()},
      {&A::delta, act, T, D},     {&A::gate_up, act, MT, 2 * W},
      {&A::mlp, act, MT, W},      {&A::last_hidden, act, R, D},
      {&A::logits, DType::F32, R, s.vocab_size},
      {&A::router_logits, DType::F32, MT, E},  {&A::moe_rows, act, TK, D},
      {&A::moe_in, act, gathered, D},         {&A::moe_out, act, gathered, D},
      {&A::moe_gate_up, act, TK, 2 * Ie},     {&A::moe_act, act, TK, Ie},
      {&A::q_a, act, T, m.q_lora_rank},       {&A::q, act, T, H * m.qk_head_dim()},
      {&A::kv_a, act, T, m.cache_dim()},
      // The decompressed form (attention_mla.cc) keeps its up-projected [k_nope | v] per head in
      // q_latent's memory and the step's cache rows in latent's.
      {&A::q_latent, act, T, H * std::max(m.kv_lora_rank, m.qk_nope_head_dim + m.v_head_dim)},
      {&A::latent, act, T, std::max(H * m.kv_lora_rank, m.cache_dim())},
      {&A::mtp_in, act, 2 * T * M, D},        {&A::mtp_out, act, 2 * T * M, D},
      {&A::mtp_hidden, act, S * M, D},
  };
}

// The MoE index buffers in int32 elements: ids (2 slots), weights (2 slots), moe_experts' index.
int64_t moe_ints(const ModelSpec& s, int64_t T) {
  if (!s.is_moe()) return 0;
  const int64_t TK = T * s.moe.top_k;
  return 2 * TK + 2 * TK + 2 * TK + s.moe.num_experts + 1;
}

// Tokens through an MoE block.
int64_t moe_token_rows(const ActivationSizes& z) { return std::max(z.max_tokens, z.moe_tokens); }
}  // namespace

size_t Activations::bytes_for(const ModelSpec& spec, DType dtype, const ActivationSizes& sizes) {
  size_t total = (size_t)(sizes.max_logit_rows + moe_ints(spec, moe_token_rows(sizes))) * sizeof(int32_t);
  for (auto& sh : shapes(spec, dtype, sizes)) {
    total += (size_t)sh.rows * sh.cols * dtype_size(sh.dtype);
  }
  return total;
}

Activations::Activations(Backend& be, const ModelSpec& spec, const ActivationSizes& sizes) : be_(be) {
  try {
    for (auto& sh : shapes(spec, be.act_dtype(), sizes)) {
      if (sh.rows * sh.cols == 0) continue;  // e.g. the MoE buffers of a dense model
      void* p = be.alloc((size_t)sh.rows * sh.cols * dtype_size(sh.dtype));
      allocations_.push_back(p);
      this->*sh.member = Tensor{p, sh.dtype, sh.rows, sh.cols};
    }
    next_tokens = (int32_t*)be.alloc((size_t)sizes.max_logit_rows * sizeof(int32_t));
    allocations_.push_back(next_tokens);
    if (spec.is_moe()) {
      const int64_t TK = moe_token_rows(sizes) * spec.moe.top_k;
      topk_ids = (int32_t*)be.alloc((size_t)moe_ints(spec, moe_token_rows(sizes)) * sizeof(int32_t));
      allocations_.push_back(topk_ids);
      topk_weights = (float*)(topk_ids + 2 * TK);
      moe_index = topk_ids + 4 * TK;
    }
  } catch (...) {
    for (void* p : allocations_) be_.release(p);
    throw;
  }
}

Activations::~Activations() {
  for (void* p : allocations_) be_.release(p);
}

}  // namespace gpubench
