#include "model/weights.h"

#include <cstring>

#include "base/error.h"
#include "base/rng.h"
#include "core/safetensors.h"

namespace gpubench {

namespace {
// Small enough that activations stay O(1) through RMSNorm-ed layers of any width we run.
constexpr float kLinearScale = 0.02f;

// A tensor stored whole under its Hugging Face name (norms and biases are 1-D there: one row of cols).
WeightDesc whole(const std::string& name, WeightKind kind, int64_t rows, int64_t cols, Tensor* t) {
  const bool one_d = kind == WeightKind::Norm || kind == WeightKind::Bias;
  return {name, kind, rows, cols, {{name, 0, one_d ? cols : rows}}, t};
}

// Grouped-query attention under `a` (= "model.layers.{l}.self_attn."): q, k, v fused, o_proj.
void describe_gqa(const ModelSpec& s, const std::string& a, LayerWeights& L, std::vector<WeightDesc>& d) {
  d.push_back({a + "qkv_proj.weight", WeightKind::Linear, s.qkv_dim(), s.hidden_size,
               {{a + "q_proj.weight", 0, s.q_dim()},
                {a + "k_proj.weight", s.q_dim(), s.kv_dim()},
                {a + "v_proj.weight", s.q_dim() + s.kv_dim(), s.kv_dim()}},
               &L.qkv});
  if (s.attention_bias) {
    d.push_back({a + "qkv_proj.bias", WeightKind::Bias, 1, s.qkv_dim(),
                 {{a + "q_proj.bias", 0, s.q_dim()},
                  {a + "k_proj.bias", s.q_dim(), s.kv_dim()},
                  {a + "v_proj.bias", s.q_dim() + s.kv_dim(), s.kv_dim()}},
                 &L.qkv_bias});
  }
  if (s.qk_norm) {
    d.push_back(whole(a + "q_norm.weight", WeightKind::Norm, 1, s.head_dim, &L.q_norm));
    d.push_back(whole(a + "k_norm.weight", WeightKind::Norm, 1, s.head_dim, &L.k_norm));
  }
  d.push_back(whole(a + "o_proj.weight", WeightKind::Linear, s.hidden_size, s.q_dim(), &L.o_proj));
}

// DeepSeek's multi-head latent attention under `a`, every tensor as the checkpoints store it.
void describe_mla(const ModelSpec& s, const std::string& a, LayerWeights& L, std::vector<WeightDesc>& d) {
  const MlaSpec& m = s.mla;
  const int64_t D = s.hidden_size, H = s.num_heads, Q = m.q_lora_rank, q_dim = H * m.qk_head_dim();
  if (Q > 0) {
    d.push_back(whole(a + "q_a_proj.weight", WeightKind::Linear, Q, D, &L.q_a_proj));
    d.push_back(whole(a + "q_a_layernorm.weight", WeightKind::Norm, 1, Q, &L.q_a_norm));
    d.push_back(whole(a + "q_b_proj.weight", WeightKind::Linear, q_dim, Q, &L.q_b_proj));
  } else {
    d.push_back(whole(a + "q_proj.weight", WeightKind::Linear, q_dim, D, &L.q_proj));
  }
  d.push_back(whole(a + "kv_a_proj_with_mqa.weight", WeightKind::Linear, m.cache_dim(), D, &L.kv_a_proj));
  d.push_back(whole(a + "kv_a_layernorm.weight", WeightKind::Norm, 1, m.kv_lora_rank, &L.kv_a_norm));
  d.push_back(whole(a + "kv_b_proj.weight", WeightKind::Linear, H * (m.qk_nope_head_dim + m.v_head_dim),
                    m.kv_lora_rank, &L.kv_b_proj));
  d.push_back(whole(a + "o_proj.weight", WeightKind::Linear, D, H * m.v_head_dim, &L.o_proj));
}

// The MoE block of layer l under Hugging Face's per-expert names (what the Hub checkpoints hold and
// what transformers 5's save_pretrained writes back from its fused 3-D expert tensors):
// mixtral block_sparse_moe.{gate, experts.E.w1|w3|w2}; qwen2_moe, qwen3_moe and deepseek
// mlp.{gate, experts.E.gate_proj|up_proj|down_proj}, shared_expert(s), shared_expert_gate.
void describe_moe_layer(const ModelSpec& s, int64_t l, LayerWeights& L, std::vector<WeightDesc>& d) {
  const MoeSpec& moe = s.moe;
  const int64_t D = s.hidden_size, E = moe.num_experts, I = moe.expert_intermediate_size;
  const int64_t Is = moe.shared_intermediate_size;
  const std::string p = "model.layers." + std::to_string(l) + ".mlp.";  // our names
  const bool mixtral = s.model_type == "mixtral";
  const std::string hf = "model.layers." + std::to_string(l) + (mixtral ? ".block_sparse_moe." : ".mlp.");
  const char* gate = mixtral ? ".w1.weight" : ".gate_proj.weight";
  const char* up = mixtral ? ".w3.weight" : ".up_proj.weight";
  const char* down = mixtral ? ".w2.weight" : ".down_proj.weight";

  d.push_back({p + "gate.weight", WeightKind::Linear, E, D, {{hf + "gate.weight", 0, E}}, &L.router});
  if (moe.topk_method == "noaux_tc") {
    d.push_back({p + "gate.e_score_correction_bias", WeightKind::Bias, 1, E, {{hf + "gate.e_score_correction_bias", 0, E}},
                 &L.router_bias, true});
  }
  WeightDesc gate_up{p + "experts.gate_up_proj", WeightKind::Linear, E * 2 * I, D, {}, &L.experts_gate_up};
  WeightDesc downs{p + "experts.down_proj", WeightKind::Linear, E * D, I, {}, &L.experts_down};
  for (int64_t e = 0; e < E; ++e) {
    const std::string x = hf + "experts." + std::to_string(e);
    gate_up.sources.push_back({x + gate, e * 2 * I, I});
    gate_up.sources.push_back({x + up, e * 2 * I + I, I});
    downs.sources.push_back({x + down, e * D, D});
  }
  d.push_back(std::move(gate_up));
  d.push_back(std::move(downs));
  if (Is > 0) {
    const std::string sh = hf + (s.model_type == "qwen2_moe" ? "shared_expert." : "shared_experts.");
    d.push_back({p + "shared_expert.gate_up_proj.weight", WeightKind::Linear, 2 * Is, D,
                 {{sh + "gate_proj.weight", 0, Is}, {sh + "up_proj.weight", Is, Is}}, &L.shared_gate_up});
    d.push_back({p + "shared_expert.down_proj.weight", WeightKind::Linear, D, Is, {{sh + "down_proj.weight", 0, D}},
                 &L.shared_down});
  }
  if (moe.shared_expert_gate) {
    d.push_back({p + "shared_expert_gate.weight", WeightKind::Linear, 1, D, {{hf + "shared_expert_gate.weight", 0, 1}},
                 &L.shared_gate});
  }
}

// Decoder layer l (a main layer, or an MTP layer at l >= num_layers): norms, attention, MLP or MoE.
void describe_layer(const ModelSpec& s, int64_t l, LayerWeights& L, std::vector<WeightDesc>& d) {
  const int64_t D = s.hidden_size, I = s.intermediate_size;
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const std::string a = p + "self_attn.", m = p + "mlp.";
  d.push_back(whole(p + "input_layernorm.weight", WeightKind::Norm, 1, D, &L.attn_norm));
  if (s.is_mla()) {
    describe_mla(s, a, L, d);
  } else {
    describe_gqa(s, a, L, d);
  }
  d.push_back(whole(p + "post_attention_layernorm.weight", WeightKind::Norm, 1, D, &L.mlp_norm));
  if (s.layer_is_moe(l)) {
    describe_moe_layer(s, l, L, d);
  } else {
    d.push_back({m + "gate_up_proj.weight", WeightKind::Linear, 2 * I, D,
                 {{m + "gate_proj.weight", 0, I}, {m + "up_proj.weight", I, I}}, &L.gate_up});
    d.push_back(whole(m + "down_proj.weight", WeightKind::Linear, D, I, &L.down));
  }
}

// The MTP module's own tensors besides its decoder layer l, under model.layers.{l}.
void describe_mtp(const ModelSpec& s, int64_t l, MtpWeights& M, std::vector<WeightDesc>& d) {
  const int64_t D = s.hidden_size;
  const std::string p = "model.layers." + std::to_string(l) + ".";
  d.push_back(whole(p + "enorm.weight", WeightKind::Norm, 1, D, &M.enorm));
  d.push_back(whole(p + "hnorm.weight", WeightKind::Norm, 1, D, &M.hnorm));
  d.push_back(whole(p + "eh_proj.weight", WeightKind::Linear, D, 2 * D, &M.eh_proj));
  d.push_back(whole(p + "shared_head.norm.weight", WeightKind::Norm, 1, D, &M.head_norm));
}

}  // namespace

std::vector<WeightDesc> describe_weights(const ModelSpec& s, int64_t mtp_layers, ModelWeights& w) {
  std::vector<WeightDesc> d;
  const int64_t D = s.hidden_size;
  d.push_back(whole("model.embed_tokens.weight", WeightKind::Embedding, s.vocab_size, D, &w.embed));
  w.layers.resize(s.num_layers + mtp_layers);
  w.mtp.resize(mtp_layers);
  for (int64_t l = 0; l < s.num_layers + mtp_layers; ++l) {
    describe_layer(s, l, w.layers[l], d);
    if (l >= s.num_layers) describe_mtp(s, l, w.mtp[l - s.num_layers], d);
  }
  d.push_back(whole("model.norm.weight", WeightKind::Norm, 1, D, &w.final_norm));
  if (!s.tie_word_embeddings) d.push_back(whole("lm_head.weight", WeightKind::Linear, s.vocab_size, D, &w.lm_head));
  return d;
}

size_t WeightStore::bytes_for(const ModelSpec& spec, int64_t mtp_layers, DType dtype) {
  ModelWeights w;
  size_t total = 0;
  for (const auto& d : describe_weights(spec, mtp_layers, w)) total += (size_t)d.rows * d.cols * dtype_size(d.keep_f32 ? DType::F32 : dtype);
  return total;
}

WeightStore::WeightStore(Backend& be, const ModelSpec& spec, int64_t mtp_layers) : be_(be), spec_(spec) {
  descs_ = describe_weights(spec, mtp_layers, w_);
  try {
    for (auto& d : descs_) {
      const DType dt = d.keep_f32 ? DType::F32 : be.act_dtype();
      size_t n = (size_t)d.rows * d.cols * dtype_size(dt);
      void* p = be.alloc(n);
      allocations_.push_back(p);
      bytes_ += n;
      *d.target = Tensor{p, dt, d.rows, d.cols};
    }
  } catch (...) {
    for (void* p : allocations_) be_.release(p);
    throw;
  }
  if (spec.tie_word_embeddings) w_.lm_head = w_.embed;
}

WeightStore::~WeightStore() {
  for (void* p : allocations_) be_.release(p);
}

void WeightStore::init_dummy(uint64_t seed) {
  for (auto& d : descs_) {
    if (d.kind == WeightKind::Norm) {
      be_.fill(*d.target, 1.0f);
    } else {
      be_.init_dummy(*d.target, seed, name_hash(d.name.c_str()), kLinearScale);
    }
  }
}

void WeightStore::nudge_one_ulp(uint64_t seed) {
  std::vector<float> host;
  for (auto& d : descs_) {
    host.resize((size_t)d.rows * d.cols);
    be_.download_f32(host.data(), *d.target);
    const uint64_t stream = name_hash(d.name.c_str()) ^ 0x6e75646765ull;  // apart from init_dummy's
    for (size_t i = 0; i < host.size(); ++i) {
      // The weights are bf16 values: a neighbouring bf16 value is one step of the upper 16 bits
      // of the magnitude, up or down (from 0: the smallest of either sign).
      uint32_t u;
      std::memcpy(&u, &host[i], 4);
      const bool up = hash3(seed, stream, i) & 1;
      if ((u & 0x7fffffffu) == 0) u = (up ? 0u : 0x80000000u) | 0x10000u;
      else if ((u & 0x7f800000u) != 0x7f800000u) u = up ? u + 0x10000u : u - 0x10000u;
      std::memcpy(&host[i], &u, 4);
    }
    be_.upload_f32(*d.target, host.data());
  }
}

void WeightStore::load(const std::string& path) {
  SafetensorsSet st(path);
  std::vector<float> host;
  for (auto& d : descs_) {
    host.assign((size_t)d.rows * d.cols, 0.0f);
    for (const auto& src : d.sources) {
      if (d.kind == WeightKind::Norm || d.kind == WeightKind::Bias) {  // 1-D in Hugging Face: a span of the one row
        st.read_f32(src.hf_name, {src.rows}, host.data() + src.row_offset);
      } else {
        st.read_f32(src.hf_name, {src.rows, d.cols}, host.data() + (size_t)src.row_offset * d.cols);
      }
    }
    be_.upload_f32(*d.target, host.data());
  }
}

}  // namespace gpubench
