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
// the MoE shared expert's, which runs through the same buffers.
int64_t swiglu_width(const ModelSpec& s) {
  int64_t w = s.moe.shared_intermediate_size;
  for (int64_t l = 0; l < s.num_layers; ++l)
    if (!s.layer_is_moe(l)) return std::max(w, s.intermediate_size);
  return w;
}

std::vector<Shape> shapes(const ModelSpec& s, DType act, int64_t T, int64_t S) {
  using A = Activations;
  const int64_t W = swiglu_width(s), E = s.moe.num_experts, TK = T * s.moe.top_k;
  const int64_t Ie = s.moe.expert_intermediate_size;
  return {
      {&A::residual, act, T, s.hidden_size},  {&A::normed, act, T, s.hidden_size},
      {&A::qkv, act, T, s.qkv_dim()},         {&A::attn, act, T, s.q_dim()},
      {&A::delta, act, T, s.hidden_size},     {&A::gate_up, act, T, 2 * W},
      {&A::mlp, act, T, W},                   {&A::last_hidden, act, S, s.hidden_size},
      {&A::logits, DType::F32, S, s.vocab_size},
      {&A::router_logits, DType::F32, T, E},  {&A::moe_rows, act, TK, s.hidden_size},
      {&A::moe_gate_up, act, TK, 2 * Ie},     {&A::moe_act, act, TK, Ie},
  };
}

// The MoE index buffers in int32 elements: ids (2 slots), weights (2 slots), moe_experts' index.
int64_t moe_ints(const ModelSpec& s, int64_t T) {
  if (!s.is_moe()) return 0;
  const int64_t TK = T * s.moe.top_k;
  return 2 * TK + 2 * TK + 2 * TK + s.moe.num_experts + 1;
}
}  // namespace

size_t Activations::bytes_for(const ModelSpec& spec, DType dtype, int64_t max_tokens, int64_t max_seqs) {
  size_t total = (size_t)(max_seqs + moe_ints(spec, max_tokens)) * sizeof(int32_t);
  for (auto& sh : shapes(spec, dtype, max_tokens, max_seqs)) {
    total += (size_t)sh.rows * sh.cols * dtype_size(sh.dtype);
  }
  return total;
}

Activations::Activations(Backend& be, const ModelSpec& spec, int64_t max_tokens, int64_t max_seqs) : be_(be) {
  try {
    for (auto& sh : shapes(spec, be.act_dtype(), max_tokens, max_seqs)) {
      if (sh.rows * sh.cols == 0) continue;  // e.g. the MoE buffers of a dense model
      void* p = be.alloc((size_t)sh.rows * sh.cols * dtype_size(sh.dtype));
      allocations_.push_back(p);
      this->*sh.member = Tensor{p, sh.dtype, sh.rows, sh.cols};
    }
    next_tokens = (int32_t*)be.alloc((size_t)max_seqs * sizeof(int32_t));
    allocations_.push_back(next_tokens);
    if (spec.is_moe()) {
      const int64_t TK = max_tokens * spec.moe.top_k;
      topk_ids = (int32_t*)be.alloc((size_t)moe_ints(spec, max_tokens) * sizeof(int32_t));
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
