#include "model/llama.h"

#include <cmath>

namespace gpubench {

namespace {
// Columns [offset, offset + cols) of every row of t (q, k, v inside the fused qkv buffer).
Tensor columns(Tensor t, int64_t offset, int64_t cols) {
  return Tensor{(char*)t.data + offset * dtype_size(t.dtype), t.dtype, t.rows, cols};
}
}  // namespace

void llama_forward(const ForwardArgs& a) {
  Backend& be = a.be;
  const ModelSpec& s = a.spec;
  const int64_t T = a.step.num_tokens(), S = a.step.num_seqs();
  const float eps = (float)s.rms_norm_eps;
  const AttnMeta meta = a.step.attn_meta();
  Activations& x = a.act;
  Tensor residual = x.residual.first_rows(T), normed = x.normed.first_rows(T), qkv = x.qkv.first_rows(T);
  Tensor attn = x.attn.first_rows(T), delta = x.delta.first_rows(T);
  Tensor gate_up = x.gate_up.first_rows(T), mlp = x.mlp.first_rows(T);

  { OpScope o(a.prof, "embedding", -1); be.embedding(residual, a.w.embed, a.step.tokens()); }
  { OpScope o(a.prof, "rmsnorm", 0); be.rmsnorm(normed, residual, a.w.layers[0].attn_norm, eps); }

  for (int l = 0; l < (int)s.num_layers; ++l) {
    const LayerWeights& L = a.w.layers[l];
    const Tensor& next_norm = l + 1 < (int)s.num_layers ? a.w.layers[l + 1].attn_norm : a.w.final_norm;
    { OpScope o(a.prof, "matmul.qkv", l); be.matmul(qkv, normed, L.qkv, s.attention_bias ? &L.qkv_bias : nullptr); }
    {
      OpScope o(a.prof, "rope_kv_write", l);
      RopeParams rope{a.inv_freq, a.rope_attn_factor, s.qk_norm ? L.q_norm.data : nullptr,
                      s.qk_norm ? L.k_norm.data : nullptr, eps};
      be.rope_kv_write(columns(qkv, 0, s.q_dim()), columns(qkv, s.q_dim(), s.kv_dim()),
                       columns(qkv, s.q_dim() + s.kv_dim(), s.kv_dim()), s.qkv_dim(), (int)s.num_heads,
                       a.step.positions(), a.step.slots(), rope, a.kv.layer(l));
    }
    {
      OpScope o(a.prof, "attention", l);
      be.attention(attn, columns(qkv, 0, s.q_dim()), s.qkv_dim(), (int)s.num_heads, a.kv.layer(l), meta,
                   1.0f / std::sqrt((float)s.head_dim));
    }
    { OpScope o(a.prof, "matmul.o_proj", l); be.matmul(delta, attn, L.o_proj, nullptr); }
    { OpScope o(a.prof, "add_rmsnorm", l); be.add_rmsnorm(residual, delta, L.mlp_norm, normed, eps); }
    { OpScope o(a.prof, "matmul.gate_up", l); be.matmul(gate_up, normed, L.gate_up, nullptr); }
    { OpScope o(a.prof, "swiglu", l); be.swiglu(mlp, gate_up); }
    { OpScope o(a.prof, "matmul.down", l); be.matmul(delta, mlp, L.down, nullptr); }
    { OpScope o(a.prof, "add_rmsnorm", l); be.add_rmsnorm(residual, delta, next_norm, normed, eps); }
  }

  // Only each sequence's last token goes through the LM head.
  Tensor last = x.last_hidden.first_rows(S), logits = x.logits.first_rows(S);
  { OpScope o(a.prof, "gather_last", -1); be.embedding(last, normed, a.step.last_rows()); }
  { OpScope o(a.prof, "matmul.lm_head", -1); be.matmul(logits, last, a.w.lm_head, nullptr); }
  { OpScope o(a.prof, "argmax", -1); be.argmax(x.next_tokens, logits); }
}

}  // namespace gpubench
