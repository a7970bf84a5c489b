#include "model/activations.h"

namespace gpubench {

namespace {
struct Shape {
  Tensor Activations::*member;
  DType dtype;
  int64_t rows, cols;
};

std::vector<Shape> shapes(const ModelSpec& s, DType act, int64_t T, int64_t S) {
  using A = Activations;
  return {
      {&A::residual, act, T, s.hidden_size},  {&A::normed, act, T, s.hidden_size},
      {&A::qkv, act, T, s.qkv_dim()},         {&A::attn, act, T, s.q_dim()},
      {&A::delta, act, T, s.hidden_size},     {&A::gate_up, act, T, 2 * s.intermediate_size},
      {&A::mlp, act, T, s.intermediate_size}, {&A::last_hidden, act, S, s.hidden_size},
      {&A::logits, DType::F32, S, s.vocab_size},
  };
}
}  // namespace

size_t Activations::bytes_for(const ModelSpec& spec, DType dtype, int64_t max_tokens, int64_t max_seqs) {
  size_t total = (size_t)max_seqs * sizeof(int32_t);
  for (auto& sh : shapes(spec, dtype, max_tokens, max_seqs)) {
    total += (size_t)sh.rows * sh.cols * dtype_size(sh.dtype);
  }
  return total;
}

Activations::Activations(Backend& be, const ModelSpec& spec, int64_t max_tokens, int64_t max_seqs) : be_(be) {
  try {
    for (auto& sh : shapes(spec, be.act_dtype(), max_tokens, max_seqs)) {
      void* p = be.alloc((size_t)sh.rows * sh.cols * dtype_size(sh.dtype));
      allocations_.push_back(p);
      this->*sh.member = Tensor{p, sh.dtype, sh.rows, sh.cols};
    }
    next_tokens = (int32_t*)be.alloc((size_t)max_seqs * sizeof(int32_t));
    allocations_.push_back(next_tokens);
  } catch (...) {
    for (void* p : allocations_) be_.release(p);
    throw;
  }
}

Activations::~Activations() {
  for (void* p : allocations_) be_.release(p);
}

}  // namespace gpubench
