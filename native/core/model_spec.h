// ModelSpec: the normalized model description. lib/model/model-spec.ts builds it from a Hugging Face
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

// Mixture of experts (mixtral, qwen2_moe, qwen3_moe, deepseek_v2/v3). num_experts 0: dense model.
struct MoeSpec {
  int64_t num_experts = 0;               // routed experts
  int64_t top_k = 0;                     // experts per token
  int64_t expert_intermediate_size = 0;  // each routed expert's SwiGLU width
  int64_t shared_intermediate_size = 0;  // the shared expert's width (0: none)
  bool shared_expert_gate = false;       // qwen2_moe: sigmoid(x . w) scales the shared expert
  bool norm_topk_prob = false;           // renormalize the top-k weights to sum to 1
  std::string scoring = "softmax";       // softmax | sigmoid
  std::string topk_method = "greedy";    // greedy | group_limited_greedy | noaux_tc
  int64_t n_group = 1, topk_group = 1;   // group-limited selection
  double routed_scaling_factor = 1.0;
  std::vector<bool> layer_is_moe;        // [num_layers]: which layers have the MoE block
};

// DeepSeek's multi-head latent attention. kv_lora_rank 0: not an MLA model.
struct MlaSpec {
  int64_t q_lora_rank = 0;  // 0: q is projected directly (deepseek-v2-lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  int64_t cache_dim() const { return kv_lora_rank + qk_rope_head_dim; }  // one cached row: [latent | k_pe]
};

struct ModelSpec {
  std::string model_type;  // llama | mistral | qwen2 | qwen3 | mixtral | qwen2_moe | qwen3_moe | deepseek_v2 | deepseek_v3
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
  MoeSpec moe;
  MlaSpec mla;
  // DeepSeek's num_nextn_predict_layers. MTP layer j is decoder layer num_layers + j (its index in
  // the checkpoint, the weights and the KV pool), a full MLA + MoE layer as in every DeepSeek-V3
  // checkpoint, whatever layer mix --layers leaves the main model.
  int64_t mtp_layers = 0;

  bool is_moe() const { return moe.num_experts > 0; }
  bool is_mla() const { return mla.kv_lora_rank > 0; }
  bool layer_is_moe(int64_t l) const { return is_moe() && (l >= num_layers || moe.layer_is_moe[l]); }
  int64_t q_dim() const { return num_heads * head_dim; }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }
  int64_t qkv_dim() const { return q_dim() + 2 * kv_dim(); }
};

}  // namespace gpubench
