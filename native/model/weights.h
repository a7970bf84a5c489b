// The weights of one rank's shard of a model (core/layout.h; one rank: the whole model), in the
// layout the forward pass uses: q, k and v fused into one qkv matrix and gate and up into one
// gate_up matrix (one GEMM each). Each tensor records which block of which Hugging Face tensor
// fills which of its rows, so a shard's dummy values and loaded values are exactly the model's
// values of its block.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/layout.h"
#include "core/model_spec.h"

namespace gpubench {

struct LayerWeights {
  Tensor attn_norm, qkv, qkv_bias, o_proj, mlp_norm, gate_up, down;
  Tensor q_norm, k_norm;  // qwen3 only
  // MoE layers instead of gate_up and down: the router [E, D] (and deepseek_v3's correction bias
  // [1, E], fp32), the routed experts fused per expert (see Backend::moe_experts), the shared expert
  // (gate_up [2Is, D], down [D, Is]) and qwen2_moe's gate on it [1, D].
  Tensor router, router_bias, experts_gate_up, experts_down, shared_gate_up, shared_down, shared_gate;
  // MLA layers instead of qkv, as Hugging Face names them: q_proj [H*(nope+rope), D], or its LoRA
  // q_a_proj [q_lora, D], q_a_layernorm, q_b_proj [H*(nope+rope), q_lora]; kv_a_proj_with_mqa
  // [kv_lora+rope, D], kv_a_layernorm [1, kv_lora]; kv_b_proj [H*(nope+v), kv_lora] as stored (the
  // absorbed attention reads W_UK and W_UV inside it); o_proj is [D, H*v].
  Tensor q_proj, q_a_proj, q_a_norm, q_b_proj, kv_a_proj, kv_a_norm, kv_b_proj;
};

// DeepSeek-V3's MTP module j besides its decoder layer (layers[num_layers + j]): enorm and hnorm
// [1, D], eh_proj [D, 2D] and shared_head.norm [1, D]. Its embedding and output head are the main
// model's: the checkpoints' copies (embed_tokens, shared_head.head) hold the same values, as the
// report's shared embedding and head.
struct MtpWeights {
  Tensor enorm, hnorm, eh_proj, head_norm;
};

struct ModelWeights {
  Tensor embed, final_norm, lm_head;  // lm_head aliases embed when tied
  std::vector<LayerWeights> layers;   // the main model's, then the MTP layers' (when loaded)
  std::vector<MtpWeights> mtp;
};

enum class WeightKind { Linear, Embedding, Norm, Bias };

// Rows [row_offset, row_offset + rows) of a tensor come from the Hugging Face tensor hf_name of
// shape hf_shape: its rows from hf_row on and its columns from hf_col on (a row-parallel shard's
// span; 0 otherwise). For a one-row tensor (norm, bias: 1-D in Hugging Face) the span is along
// its columns, from element hf_row. The dummy value of an element is a function of hf_name and
// its index in that tensor, so every layout holds the same values.
struct WeightSource {
  std::string hf_name;
  int64_t row_offset;
  int64_t rows;
  int64_t hf_row;
  int64_t hf_col;
  std::vector<int64_t> hf_shape;
};

struct WeightDesc {
  std::string name;  // our name
  WeightKind kind;
  int64_t rows, cols;
  std::vector<WeightSource> sources;
  Tensor* target;
  bool keep_f32 = false;  // stored in fp32 on every backend (the router's correction bias, fp32 in checkpoints)
};

class WeightStore {
 public:
  // The shard of `spec` (the model) that `shard` names; mtp_layers: how many of the spec's MTP
  // layers to hold (0 when MTP is off).
  WeightStore(Backend& be, const ModelSpec& spec, const ShardSpec& shard, int64_t mtp_layers);
  ~WeightStore();
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  // Dummy weights: norms 1, everything else U(-a, a) from the counter hash.
  void init_dummy(uint64_t seed);
  // Moves every weight one bf16 ulp up or down (a seeded sign per element), for the GPU tests:
  // how far the logits move when the weights do by what bf16 resolves is their bf16 noise floor.
  void nudge_one_ulp(uint64_t seed);
  // Real weights from a .safetensors file or folder, by Hugging Face names: the shard's blocks.
  void load(const std::string& path);

  const ModelWeights& weights() const { return w_; }
  size_t bytes() const { return bytes_; }
  static size_t bytes_for(const ModelSpec& spec, const ShardSpec& shard, int64_t mtp_layers, DType dtype);

 private:
  Backend& be_;
  ModelWeights w_;
  std::vector<WeightDesc> descs_;
  std::vector<void*> allocations_;
  size_t bytes_ = 0;
};

// Every tensor of the shard of the model and of its first mtp_layers MTP layers (used to size,
// allocate, initialize and load).
std::vector<WeightDesc> describe_weights(const ModelSpec& spec, const ShardSpec& shard, int64_t mtp_layers,
                                         ModelWeights& w);

}  // namespace gpubench
