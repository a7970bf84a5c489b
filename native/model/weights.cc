#include "model/weights.h"

#include <cstring>

#include "base/error.h"
#include "base/rng.h"
#include "core/safetensors.h"

namespace gpubench {

namespace {
// Small enough that activations stay O(1) through RMSNorm-ed layers of any width we run.
constexpr float kLinearScale = 0.02f;

bool one_d(WeightKind kind) { return kind == WeightKind::Norm || kind == WeightKind::Bias; }

// A tensor every rank holds whole, under its Hugging Face name (norms and biases are 1-D there).
WeightDesc whole(const std::string& name, WeightKind kind, int64_t rows, int64_t cols, Tensor* t) {
  if (one_d(kind)) return {name, kind, rows, cols, {{name, 0, cols, 0, 0, {cols}}}, t};
  return {name, kind, rows, cols, {{name, 0, rows, 0, 0, {rows, cols}}}, t};
}

// Rows [hf_row, hf_row + rows) of the Hugging Face matrix hf [hf_rows, cols] (a column-parallel
// block) into our rows from `ours`.
WeightSource row_block(const std::string& hf, int64_t ours, int64_t hf_row, int64_t rows, int64_t hf_rows, int64_t cols) {
  return {hf, ours, rows, hf_row, 0, {hf_rows, cols}};
}

// Columns `cols` of the Hugging Face matrix hf [rows, hf_cols] (a row-parallel block), all rows.
WeightSource col_block(const std::string& hf, int64_t rows, Span cols, int64_t hf_cols) {
  return {hf, 0, rows, 0, cols.begin, {rows, hf_cols}};
}

// Elements [hf_row, hf_row + n) of the 1-D Hugging Face tensor hf [hf_n] into our columns from `ours`.
WeightSource span_1d(const std::string& hf, int64_t ours, int64_t hf_row, int64_t n, int64_t hf_n) {
  return {hf, ours, n, hf_row, 0, {hf_n}};
}

// Grouped-query attention under `a` (= "model.layers.{l}.self_attn."): q, k, v fused, o_proj;
// the shard's q heads and KV heads (column-parallel), o_proj's columns of its q heads (row-parallel).
void describe_gqa(const ModelSpec& s, const ShardSpec& z, const std::string& a, LayerWeights& L,
                  std::vector<WeightDesc>& d) {
  const ModelSpec& r = z.local;
  const int64_t D = s.hidden_size, hd = s.head_dim;
  const int64_t q0 = z.q_heads.begin * hd, kv0 = z.kv_heads.begin * hd;
  d.push_back({a + "qkv_proj.weight", WeightKind::Linear, r.qkv_dim(), D,
               {row_block(a + "q_proj.weight", 0, q0, r.q_dim(), s.q_dim(), D),
                row_block(a + "k_proj.weight", r.q_dim(), kv0, r.kv_dim(), s.kv_dim(), D),
                row_block(a + "v_proj.weight", r.q_dim() + r.kv_dim(), kv0, r.kv_dim(), s.kv_dim(), D)},
               &L.qkv});
  if (s.attention_bias) {
    d.push_back({a + "qkv_proj.bias", WeightKind::Bias, 1, r.qkv_dim(),
                 {span_1d(a + "q_proj.bias", 0, q0, r.q_dim(), s.q_dim()),
                  span_1d(a + "k_proj.bias", r.q_dim(), kv0, r.kv_dim(), s.kv_dim()),
                  span_1d(a + "v_proj.bias", r.q_dim() + r.kv_dim(), kv0, r.kv_dim(), s.kv_dim())},
                 &L.qkv_bias});
  }
  if (s.qk_norm) {
    d.push_back(whole(a + "q_norm.weight", WeightKind::Norm, 1, hd, &L.q_norm));
    d.push_back(whole(a + "k_norm.weight", WeightKind::Norm, 1, hd, &L.k_norm));
  }
  d.push_back({a + "o_proj.weight", WeightKind::Linear, D, r.q_dim(),
               {col_block(a + "o_proj.weight", D, Span{q0, r.q_dim()}, s.q_dim())}, &L.o_proj});
}

// DeepSeek's multi-head latent attention under `a`, every tensor as the checkpoints store it: the
// shard's heads of q_proj or q_b_proj and kv_b_proj (rows), of o_proj (columns); q_a and kv_a whole.
void describe_mla(const ModelSpec& s, const ShardSpec& z, const std::string& a, LayerWeights& L,
                  std::vector<WeightDesc>& d) {
  const MlaSpec& m = s.mla;
  const int64_t D = s.hidden_size, H = s.num_heads, Q = m.q_lora_rank, h0 = z.q_heads.begin, Hr = z.q_heads.size;
  const int64_t qk = m.qk_head_dim(), kvb = m.qk_nope_head_dim + m.v_head_dim, V = m.v_head_dim;
  if (Q > 0) {
    d.push_back(whole(a + "q_a_proj.weight", WeightKind::Linear, Q, D, &L.q_a_proj));
    d.push_back(whole(a + "q_a_layernorm.weight", WeightKind::Norm, 1, Q, &L.q_a_norm));
    d.push_back({a + "q_b_proj.weight", WeightKind::Linear, Hr * qk, Q,
                 {row_block(a + "q_b_proj.weight", 0, h0 * qk, Hr * qk, H * qk, Q)}, &L.q_b_proj});
  } else {
    d.push_back({a + "q_proj.weight", WeightKind::Linear, Hr * qk, D,
                 {row_block(a + "q_proj.weight", 0, h0 * qk, Hr * qk, H * qk, D)}, &L.q_proj});
  }
  d.push_back(whole(a + "kv_a_proj_with_mqa.weight", WeightKind::Linear, m.cache_dim(), D, &L.kv_a_proj));
  d.push_back(whole(a + "kv_a_layernorm.weight", WeightKind::Norm, 1, m.kv_lora_rank, &L.kv_a_norm));
  d.push_back({a + "kv_b_proj.weight", WeightKind::Linear, Hr * kvb, m.kv_lora_rank,
               {row_block(a + "kv_b_proj.weight", 0, h0 * kvb, Hr * kvb, H * kvb, m.kv_lora_rank)}, &L.kv_b_proj});
  d.push_back({a + "o_proj.weight", WeightKind::Linear, D, Hr * V, {col_block(a + "o_proj.weight", D, Span{h0 * V, Hr * V}, H * V)},
               &L.o_proj});
}

// A SwiGLU MLP's columns `inter` of `I` (gate and up rows, down columns) under the Hugging Face
// names gate, up, down, into our gate_up [2 * inter.size, D] and down [D, inter.size].
void describe_swiglu(const std::string& ours, const std::string& gate, const std::string& up, const std::string& down,
                     int64_t D, int64_t I, Span inter, Tensor* gate_up_t, Tensor* down_t, std::vector<WeightDesc>& d) {
  d.push_back({ours + "gate_up_proj.weight", WeightKind::Linear, 2 * inter.size, D,
               {row_block(gate, 0, inter.begin, inter.size, I, D), row_block(up, inter.size, inter.begin, inter.size, I, D)},
               gate_up_t});
  d.push_back({ours + "down_proj.weight", WeightKind::Linear, D, inter.size, {col_block(down, D, inter, I)}, down_t});
}

// The MoE block of layer l under Hugging Face's per-expert names (what the Hub checkpoints hold and
// what transformers 5's save_pretrained writes back from its fused 3-D expert tensors):
// mixtral block_sparse_moe.{gate, experts.E.w1|w3|w2}; qwen2_moe, qwen3_moe and deepseek
// mlp.{gate, experts.E.gate_proj|up_proj|down_proj}, shared_expert(s), shared_expert_gate.
// The shard holds its experts, each one's intermediate columns, and its columns of the shared
// expert; the router and the shared expert's gate whole.
void describe_moe_layer(const ModelSpec& s, const ShardSpec& z, int64_t l, LayerWeights& L, std::vector<WeightDesc>& d) {
  const MoeSpec& moe = s.moe;
  const int64_t D = s.hidden_size, E = moe.num_experts, I = moe.expert_intermediate_size;
  const int64_t Er = z.experts.size, Ir = z.expert_inter.size, i0 = z.expert_inter.begin;
  const std::string p = "model.layers." + std::to_string(l) + ".mlp.";  // our names
  const bool mixtral = s.model_type == "mixtral";
  const std::string hf = "model.layers." + std::to_string(l) + (mixtral ? ".block_sparse_moe." : ".mlp.");
  const char* gate = mixtral ? ".w1.weight" : ".gate_proj.weight";
  const char* up = mixtral ? ".w3.weight" : ".up_proj.weight";
  const char* down = mixtral ? ".w2.weight" : ".down_proj.weight";

  d.push_back({p + "gate.weight", WeightKind::Linear, E, D, {row_block(hf + "gate.weight", 0, 0, E, E, D)}, &L.router});
  if (moe.topk_method == "noaux_tc") {
    d.push_back({p + "gate.e_score_correction_bias", WeightKind::Bias, 1, E,
                 {span_1d(hf + "gate.e_score_correction_bias", 0, 0, E, E)}, &L.router_bias, true});
  }
  WeightDesc gate_up{p + "experts.gate_up_proj", WeightKind::Linear, Er * 2 * Ir, D, {}, &L.experts_gate_up};
  WeightDesc downs{p + "experts.down_proj", WeightKind::Linear, Er * D, Ir, {}, &L.experts_down};
  for (int64_t j = 0; j < Er; ++j) {
    const std::string x = hf + "experts." + std::to_string(z.experts.begin + j);
    gate_up.sources.push_back(row_block(x + gate, j * 2 * Ir, i0, Ir, I, D));
    gate_up.sources.push_back(row_block(x + up, j * 2 * Ir + Ir, i0, Ir, I, D));
    WeightSource dn = col_block(x + down, D, z.expert_inter, I);
    dn.row_offset = j * D;
    downs.sources.push_back(dn);
  }
  d.push_back(std::move(gate_up));
  d.push_back(std::move(downs));
  if (moe.shared_intermediate_size > 0) {
    const std::string sh = hf + (s.model_type == "qwen2_moe" ? "shared_expert." : "shared_experts.");
    describe_swiglu(p + "shared_expert.", sh + "gate_proj.weight", sh + "up_proj.weight", sh + "down_proj.weight", D,
                    moe.shared_intermediate_size, z.shared_inter, &L.shared_gate_up, &L.shared_down, d);
  }
  if (moe.shared_expert_gate) {
    d.push_back({p + "shared_expert_gate.weight", WeightKind::Linear, 1, D,
                 {row_block(hf + "shared_expert_gate.weight", 0, 0, 1, 1, D)}, &L.shared_gate});
  }
}

// Decoder layer l (a main layer, or an MTP layer at l >= num_layers): norms, attention, MLP or MoE.
void describe_layer(const ModelSpec& s, const ShardSpec& z, int64_t l, LayerWeights& L, std::vector<WeightDesc>& d) {
  const int64_t D = s.hidden_size;
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const std::string a = p + "self_attn.", m = p + "mlp.";
  d.push_back(whole(p + "input_layernorm.weight", WeightKind::Norm, 1, D, &L.attn_norm));
  if (s.is_mla()) {
    describe_mla(s, z, a, L, d);
  } else {
    describe_gqa(s, z, a, L, d);
  }
  d.push_back(whole(p + "post_attention_layernorm.weight", WeightKind::Norm, 1, D, &L.mlp_norm));
  if (s.layer_is_moe(l)) {
    describe_moe_layer(s, z, l, L, d);
  } else {
    describe_swiglu(m, m + "gate_proj.weight", m + "up_proj.weight", m + "down_proj.weight", D, s.intermediate_size,
                    z.mlp, &L.gate_up, &L.down, d);
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

// The part of d's tensor that source src fills: a [rows, cols] block, or for a one-row tensor the
// span of its columns.
Tensor block_of(const WeightDesc& d, const WeightSource& src) {
  const Tensor& t = *d.target;
  if (one_d(d.kind)) return Tensor{(char*)t.data + src.row_offset * dtype_size(t.dtype), t.dtype, 1, src.rows};
  return Tensor{t.row(src.row_offset).data, t.dtype, src.rows, t.cols};
}

// Where src's block starts in its Hugging Face tensor, and that tensor's row length (its elements'
// indices are the dummy values' counters).
int64_t first_index(const WeightSource& src) {
  return src.hf_shape.size() == 1 ? src.hf_row : src.hf_row * src.hf_shape[1] + src.hf_col;
}
int64_t index_row_stride(const WeightSource& src) { return src.hf_shape.size() == 1 ? src.rows : src.hf_shape[1]; }

}  // namespace

std::vector<WeightDesc> describe_weights(const ModelSpec& s, const ShardSpec& z, int64_t mtp_layers, ModelWeights& w) {
  std::vector<WeightDesc> d;
  const int64_t D = s.hidden_size;
  d.push_back(whole("model.embed_tokens.weight", WeightKind::Embedding, s.vocab_size, D, &w.embed));
  w.layers.resize(s.num_layers + mtp_layers);
  w.mtp.resize(mtp_layers);
  for (int64_t l = 0; l < s.num_layers + mtp_layers; ++l) {
    describe_layer(s, z, l, w.layers[l], d);
    if (l >= s.num_layers) describe_mtp(s, l, w.mtp[l - s.num_layers], d);
  }
  d.push_back(whole("model.norm.weight", WeightKind::Norm, 1, D, &w.final_norm));
  if (!s.tie_word_embeddings) d.push_back(whole("lm_head.weight", WeightKind::Linear, s.vocab_size, D, &w.lm_head));
  return d;
}

size_t WeightStore::bytes_for(const ModelSpec& spec, const ShardSpec& shard, int64_t mtp_layers, DType dtype) {
  ModelWeights w;
  size_t total = 0;
  for (const auto& d : describe_weights(spec, shard, mtp_layers, w)) total += (size_t)d.rows * d.cols * dtype_size(d.keep_f32 ? DType::F32 : dtype);
  return total;
}

WeightStore::WeightStore(Backend& be, const ModelSpec& spec, const ShardSpec& shard, int64_t mtp_layers) : be_(be) {
  descs_ = describe_weights(spec, shard, mtp_layers, w_);
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
      continue;
    }
    for (const auto& src : d.sources) {
      be_.init_dummy_block(block_of(d, src), seed, name_hash(src.hf_name.c_str()), kLinearScale, first_index(src),
                           index_row_stride(src));
    }
  }
}

void WeightStore::nudge_one_ulp(uint64_t seed) {
  std::vector<float> host;
  for (auto& d : descs_) {
    for (const auto& src : d.sources) {
      const Tensor block = block_of(d, src);
      host.resize((size_t)block.numel());
      be_.download_f32(host.data(), block);
      const uint64_t stream = name_hash(src.hf_name.c_str()) ^ 0x6e75646765ull;  // apart from init_dummy's
      for (int64_t i = 0; i < block.numel(); ++i) {
        // The weights are bf16 values: a neighbouring bf16 value is one step of the upper 16 bits
        // of the magnitude, up or down (from 0: the smallest of either sign).
        uint32_t u;
        std::memcpy(&u, &host[i], 4);
        const uint64_t at = first_index(src) + (i / block.cols) * index_row_stride(src) + i % block.cols;
        const bool up = hash3(seed, stream, at) & 1;
        if ((u & 0x7fffffffu) == 0) u = (up ? 0u : 0x80000000u) | 0x10000u;
        else if ((u & 0x7f800000u) != 0x7f800000u) u = up ? u + 0x10000u : u - 0x10000u;
        std::memcpy(&host[i], &u, 4);
      }
      be_.upload_f32(block, host.data());
    }
  }
}

void WeightStore::load(const std::string& path) {
  SafetensorsSet st(path);
  std::vector<float> host;
  for (auto& d : descs_) {
    host.assign((size_t)d.rows * d.cols, 0.0f);
    for (const auto& src : d.sources) {
      if (one_d(d.kind)) {  // 1-D in Hugging Face: a span of the one row
        st.read_f32_block(src.hf_name, src.hf_shape, src.hf_row, src.rows, 0, 1, host.data() + src.row_offset);
      } else {
        st.read_f32_block(src.hf_name, src.hf_shape, src.hf_row, src.rows, src.hf_col, d.cols,
                          host.data() + (size_t)src.row_offset * d.cols);
      }
    }
    be_.upload_f32(*d.target, host.data());
  }
}

}  // namespace gpubench
