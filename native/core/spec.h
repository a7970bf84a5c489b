// ModelSpec: the normalized model description. lib/model-spec.ts builds it from a Hugging Face
// config.json and the addon copies it here field by field; C++ never parses config.json.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gpubench {

struct RopeSpec {
  double theta = 10000.0;
  std::string type = "default";  // default | llama3 | linear | yarn
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  int64_t original_max_position = 8192;  // llama3, yarn
  double beta_fast = 32.0, beta_slow = 1.0;  // yarn
  double mscale = 1.0, mscale_all_dim = 0.0;  // yarn (DeepSeek)
};

struct ModelSpec {
  std::string model_type;  // llama | mistral | qwen2 | qwen3 (MoE and MLA types: their own issue)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // bias on q, k, v projections (qwen2)
  bool qk_norm = false;         // per-head RMSNorm on q and k before RoPE (qwen3)
  int64_t max_position_embeddings = 4096;
  RopeSpec rope;

  int64_t q_dim() const { return num_heads * head_dim; }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }
  int64_t qkv_dim() const { return q_dim() + 2 * kv_dim(); }
};

}  // namespace gpubench
