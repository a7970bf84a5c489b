// DeepSeek's multi-head latent attention block (DeepSeek-V2 report, section 2.1): q (directly, or
// through its LoRA: q_a_proj, q_a_layernorm, q_b_proj), the compressed kv_a = [latent | k_pe], rope
// fused with the write of [rmsnorm(latent) | k_pe] into the cache, then one of two forms (the MLA
// ops of backend.h; docs/design.md says which runs when):
//   absorbed      q_nope mapped into the latent space through W_UK, attention over the cached
//                 latents, the result mapped out through W_UV (decode, MTP verification);
//   decompressed  the step's cache rows gathered, K_nope and V up-projected from their latents with
//                 kv_b_proj in one GEMM, causal attention with k = [k_nope | k_pe] (a prefill
//                 without a cached prefix: 2H(nope + R + V) flops per token pair instead of
//                 2H(2 kv_lora + R));
// and o_proj.
#include <cmath>

#include "model/forward.h"
#include "model/rope.h"

namespace gpubench {

namespace {

// q_a_layernorm and kv_a_layernorm are built without rms_norm_eps in transformers (and in DeepSeek's
// own modeling code): they always use the default 1e-6.
constexpr float kLoraNormEps = 1e-6f;

// qk_head_dim^-0.5, times mscale^2 under a scaled rope with mscale_all_dim (transformers'
// yarn_apply_mscale): DeepSeek's long-context scaling of the logits.
float softmax_scale(const ModelSpec& s) {
  double scale = 1.0 / std::sqrt((double)s.mla.qk_head_dim());
  if (s.rope.type != "default" && s.rope.mscale_all_dim != 0.0) {
    double m = yarn_get_mscale(s.rope.factor, s.rope.mscale_all_dim);
    scale *= m * m;
  }
  return (float)scale;
}

// Per-head slices of a row-major [rows, heads * head_stride] buffer, `cols` wide from `offset`.
Backend::HeadSlices heads(Tensor t, int64_t heads, int64_t head_stride, int64_t offset, int64_t cols) {
  return {(char*)t.data + offset * dtype_size(t.dtype), t.dtype, t.rows, heads, cols, t.cols, head_stride};
}

}  // namespace

MlaForm mla_form(MlaForm prefill, const StepBuffers& step) {
  return step.has_cached_prefix() ? MlaForm::Absorbed : prefill;
}

const char* mla_form_name(MlaForm f) { return f == MlaForm::Absorbed ? "absorbed" : "decompressed"; }

void attention_mla(const ForwardArgs& a, int l) {
  Backend& be = a.be;
  const ModelSpec& s = a.spec;
  const MlaSpec& m = s.mla;
  const LayerWeights& L = a.w.layers[l];
  const int64_t T = a.step.num_tokens(), H = s.num_heads;
  const int64_t N = m.qk_nope_head_dim, R = m.qk_rope_head_dim, C = m.kv_lora_rank, V = m.v_head_dim;
  Tensor normed = a.act.normed.first_rows(T), q = a.act.q.first_rows(T), kv_a = a.act.kv_a.first_rows(T);
  // q_latent and latent serve both forms (activations.cc), so they may be wider than a form's views.
  Tensor q_latent = scratch(a.act.q_latent, T, H * C), latent = scratch(a.act.latent, T, H * C);
  Tensor attn = a.act.attn.first_rows(T), delta = a.act.delta.first_rows(T);
  const KvLayer kv = a.kv.layer(l);

  if (m.q_lora_rank > 0) {
    Tensor q_a = a.act.q_a.first_rows(T);
    { OpScope o(a.prof, "matmul.q_a", l); be.matmul(q_a, normed, L.q_a_proj, nullptr); }
    { OpScope o(a.prof, "rmsnorm", l); be.rmsnorm(q_a, q_a, L.q_a_norm, kLoraNormEps); }
    { OpScope o(a.prof, "matmul.q_b", l); be.matmul(q, q_a, L.q_b_proj, nullptr); }
  } else {
    OpScope o(a.prof, "matmul.q", l);
    be.matmul(q, normed, L.q_proj, nullptr);
  }
  { OpScope o(a.prof, "matmul.kv_a", l); be.matmul(kv_a, normed, L.kv_a_proj, nullptr); }
  // Head h of q is [q_nope_h | q_pe_h]; kv_b_proj holds per head W_UK_h [N, C], then W_UV_h [V, C].
  Backend::HeadSlices q_pe = heads(q, H, N + R, N, R);
  {
    OpScope o(a.prof, "mla_rope_kv_write", l);
    RopeParams rope{a.inv_freq, a.rope_attn_factor, nullptr, L.kv_a_norm.data, kLoraNormEps};
    be.mla_rope_kv_write(q_pe, kv_a, a.step.positions(), a.step.slots(), rope, kv);
  }
  if (a.mla == MlaForm::Absorbed) {
    Backend::HeadSlices w_uk{L.kv_b_proj.data, L.kv_b_proj.dtype, N, H, C, C, (N + V) * C};
    Backend::HeadSlices w_uv{(char*)L.kv_b_proj.data + N * C * dtype_size(L.kv_b_proj.dtype), L.kv_b_proj.dtype,
                             V, H, C, C, (N + V) * C};
    { OpScope o(a.prof, "matmul_heads.w_uk", l); be.matmul_heads(heads(q_latent, H, C, 0, C), heads(q, H, N + R, 0, N), w_uk, true); }
    {
      OpScope o(a.prof, "mla_attention", l);
      be.mla_attention(latent, q_latent, q_pe, kv, a.step.attn_meta(), softmax_scale(s));
    }
    { OpScope o(a.prof, "matmul_heads.w_uv", l); be.matmul_heads(heads(attn, H, V, 0, V), heads(latent, H, C, 0, C), w_uv, false); }
  } else {
    // The form needs neither q_latent nor latent: their memory (activations.cc sizes it for both
    // forms) holds the step's cache rows [c | k_pe] and the up-projected [k_nope_h | v_h] per head.
    const int64_t W = H * (N + V);
    Tensor rows = scratch(a.act.latent, T, C + R), kv_up = scratch(a.act.q_latent, T, W);
    {
      OpScope o(a.prof, "embedding.mla_cache_rows", l);
      be.embedding(rows, Tensor{kv.k, rows.dtype, kv.num_blocks * kv.block_size, C + R}, a.step.slots());
    }
    {
      OpScope o(a.prof, "matmul_heads.kv_b", l);
      Backend::HeadSlices w{L.kv_b_proj.data, L.kv_b_proj.dtype, W, 1, C, C, W * C};
      be.matmul_heads(heads(kv_up, 1, W, 0, W), heads(rows, 1, C, 0, C), w, false);
    }
    {
      OpScope o(a.prof, "attention_dense", l);
      Backend::HeadSlices k_pe = heads(rows, H, 0, C, R);  // one k_pe, shared by every head
      be.attention_dense(heads(attn, H, V, 0, V), heads(q, H, N + R, 0, N + R), heads(kv_up, H, N + V, 0, N), k_pe,
                         heads(kv_up, H, N + V, N, V), a.step.attn_meta(), softmax_scale(s));
    }
  }
  { OpScope o(a.prof, "matmul.o_proj", l); be.matmul(delta, attn, L.o_proj, nullptr); }
  if (a.comm.tp) {
    OpScope o(a.prof, "all_reduce.o_proj", l);
    a.comm.tp->all_reduce(delta);
  }
}

}  // namespace gpubench
