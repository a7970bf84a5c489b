#include "model/weights.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/safetensors.h"

namespace gpubench {

namespace {
// Small enough that activations stay O(1) through RMSNorm-ed layers of any width we run.
constexpr float kLinearScale = 0.02f;
}  // namespace

std::vector<WeightDesc> describe_weights(const ModelSpec& s, ModelWeights& w) {
  std::vector<WeightDesc> d;
  const int64_t D = s.hidden_size, I = s.intermediate_size;
  d.push_back({"model.embed_tokens.weight", WeightKind::Embedding, s.vocab_size, D,
               {{"model.embed_tokens.weight", 0, s.vocab_size}}, &w.embed});
  w.layers.resize(s.num_layers);
  for (int64_t l = 0; l < s.num_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::string a = p + "self_attn.", m = p + "mlp.";
    d.push_back({p + "input_layernorm.weight", WeightKind::Norm, 1, D, {{p + "input_layernorm.weight", 0, D}}, &L.attn_norm});
    d.push_back({a + "qkv_proj.weight", WeightKind::Linear, s.qkv_dim(), D,
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
      d.push_back({a + "q_norm.weight", WeightKind::Norm, 1, s.head_dim, {{a + "q_norm.weight", 0, s.head_dim}}, &L.q_norm});
      d.push_back({a + "k_norm.weight", WeightKind::Norm, 1, s.head_dim, {{a + "k_norm.weight", 0, s.head_dim}}, &L.k_norm});
    }
    d.push_back({a + "o_proj.weight", WeightKind::Linear, D, s.q_dim(), {{a + "o_proj.weight", 0, D}}, &L.o_proj});
    d.push_back({p + "post_attention_layernorm.weight", WeightKind::Norm, 1, D,
                 {{p + "post_attention_layernorm.weight", 0, D}}, &L.mlp_norm});
    d.push_back({m + "gate_up_proj.weight", WeightKind::Linear, 2 * I, D,
                 {{m + "gate_proj.weight", 0, I}, {m + "up_proj.weight", I, I}}, &L.gate_up});
    d.push_back({m + "down_proj.weight", WeightKind::Linear, D, I, {{m + "down_proj.weight", 0, D}}, &L.down});
  }
  d.push_back({"model.norm.weight", WeightKind::Norm, 1, D, {{"model.norm.weight", 0, D}}, &w.final_norm});
  if (!s.tie_word_embeddings) {
    d.push_back({"lm_head.weight", WeightKind::Linear, s.vocab_size, D, {{"lm_head.weight", 0, s.vocab_size}}, &w.lm_head});
  }
  return d;
}

size_t WeightStore::bytes_for(const ModelSpec& spec, DType dtype) {
  ModelWeights w;
  size_t total = 0;
  for (const auto& d : describe_weights(spec, w)) total += (size_t)d.rows * d.cols * dtype_size(dtype);
  return total;
}

WeightStore::WeightStore(Backend& be, const ModelSpec& spec) : be_(be), spec_(spec) {
  descs_ = describe_weights(spec, w_);
  try {
    for (auto& d : descs_) {
      size_t n = (size_t)d.rows * d.cols * dtype_size(be.act_dtype());
      void* p = be.alloc(n);
      allocations_.push_back(p);
      bytes_ += n;
      *d.target = Tensor{p, be.act_dtype(), d.rows, d.cols};
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

void WeightStore::load(const std::string& path) {
  SafetensorsSet st(path);
  std::vector<float> host;
  for (auto& d : descs_) {
    host.assign((size_t)d.rows * d.cols, 0.0f);
    for (const auto& src : d.sources) {
      if (d.rows == 1) {  // 1-D in Hugging Face (norms, biases): a span of the one row
        st.read_f32(src.hf_name, {src.rows}, host.data() + src.row_offset);
      } else {
        st.read_f32(src.hf_name, {src.rows, d.cols}, host.data() + (size_t)src.row_offset * d.cols);
      }
    }
    be_.upload_f32(*d.target, host.data());
  }
}

}  // namespace gpubench
