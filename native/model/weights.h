// The weights of a dense Llama-family model, in the layout the forward pass uses: q, k and v
// fused into one qkv matrix and gate and up into one gate_up matrix (one GEMM each). Each
// fused tensor records which Hugging Face tensors fill which of its rows.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/spec.h"

namespace gpubench {

struct LayerWeights {
  Tensor attn_norm, qkv, qkv_bias, o_proj, mlp_norm, gate_up, down;
  Tensor q_norm, k_norm;  // qwen3 only
  // MoE layers instead of gate_up and down: the router [E, D] (and deepseek_v3's correction bias
  // [1, E], fp32), the routed experts fused per expert (see Backend::moe_experts), the shared expert
  // (gate_up [2Is, D], down [D, Is]) and qwen2_moe's gate on it [1, D].
  Tensor router, router_bias, experts_gate_up, experts_down, shared_gate_up, shared_down, shared_gate;
};

struct ModelWeights {
  Tensor embed, final_norm, lm_head;  // lm_head aliases embed when tied
  std::vector<LayerWeights> layers;
};

enum class WeightKind { Linear, Embedding, Norm, Bias };

// Rows [row_offset, row_offset + rows) of a tensor come from the Hugging Face tensor hf_name;
// for a one-row tensor (norm, bias: 1-D in Hugging Face) the span is along its columns.
struct WeightSource {
  std::string hf_name;
  int64_t row_offset;
  int64_t rows;
};

struct WeightDesc {
  std::string name;  // our name: the hash stream of its dummy values
  WeightKind kind;
  int64_t rows, cols;
  std::vector<WeightSource> sources;
  Tensor* target;
  bool keep_f32 = false;  // stored in fp32 on every backend (the router's correction bias, fp32 in checkpoints)
};

class WeightStore {
 public:
  WeightStore(Backend& be, const ModelSpec& spec);
  ~WeightStore();
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  // Dummy weights (DESIGN.md section 3): norms 1, everything else U(-a, a) from the counter hash.
  void init_dummy(uint64_t seed);
  // Real weights from a .safetensors file or folder, by Hugging Face names.
  void load(const std::string& path);

  const ModelWeights& weights() const { return w_; }
  size_t bytes() const { return bytes_; }
  static size_t bytes_for(const ModelSpec& spec, DType dtype);

 private:
  Backend& be_;
  const ModelSpec& spec_;
  ModelWeights w_;
  std::vector<WeightDesc> descs_;
  std::vector<void*> allocations_;
  size_t bytes_ = 0;
};

// Every tensor of the model (used to size, allocate, initialize and load).
std::vector<WeightDesc> describe_weights(const ModelSpec& spec, ModelWeights& w);

}  // namespace gpubench
