// Grouped-query attention block (llama, mistral, qwen2 with qkv bias, qwen3 with q/k norm):
// one fused qkv GEMM, RoPE fused with the paged KV write, paged attention, the output GEMM.
#include <cmath>

#include "model/forward.h"

namespace gpubench {

void attention_gqa(const ForwardArgs& a, int l) {
  Backend& be = a.be;
  const ModelSpec& s = a.spec;
  const LayerWeights& L = a.w.layers[l];
  const int64_t T = a.step.num_tokens();
  Tensor normed = a.act.normed.first_rows(T), qkv = a.act.qkv.first_rows(T);
  Tensor attn = a.act.attn.first_rows(T), delta = a.act.delta.first_rows(T);
  Tensor q = columns(qkv, 0, s.q_dim());

  { OpScope o(a.prof, "matmul.qkv", l); be.matmul(qkv, normed, L.qkv, s.attention_bias ? &L.qkv_bias : nullptr); }
  {
    OpScope o(a.prof, "rope_kv_write", l);
    RopeParams rope{a.inv_freq, a.rope_attn_factor, s.qk_norm ? L.q_norm.data : nullptr,
                    s.qk_norm ? L.k_norm.data : nullptr, (float)s.rms_norm_eps};
    be.rope_kv_write(q, columns(qkv, s.q_dim(), s.kv_dim()), columns(qkv, s.q_dim() + s.kv_dim(), s.kv_dim()),
                     s.qkv_dim(), (int)s.num_heads, a.step.positions(), a.step.slots(), rope, a.kv.layer(l));
  }
  {
    OpScope o(a.prof, "attention", l);
    be.attention(attn, q, s.qkv_dim(), (int)s.num_heads, a.kv.layer(l), a.step.attn_meta(),
                 1.0f / std::sqrt((float)s.head_dim));
  }
  { OpScope o(a.prof, "matmul.o_proj", l); be.matmul(delta, attn, L.o_proj, nullptr); }
  if (a.comm.tp) {
    OpScope o(a.prof, "all_reduce.o_proj", l);
    a.comm.tp->all_reduce(delta);
  }
}

}  // namespace gpubench
