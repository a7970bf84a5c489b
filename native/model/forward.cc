#include "model/forward.h"

namespace gpubench {

void decoder_layer(const ForwardArgs& a, int l, Tensor residual, const Tensor& next_norm) {
  Backend& be = a.be;
  const int64_t T = a.step.num_tokens();
  const float eps = (float)a.spec.rms_norm_eps;
  const LayerWeights& L = a.w.layers[l];
  Tensor normed = a.act.normed.first_rows(T), delta = a.act.delta.first_rows(T);
  if (a.spec.is_mla()) {
    attention_mla(a, l);
  } else {
    attention_gqa(a, l);
  }
  { OpScope o(a.prof, "add_rmsnorm", l); be.add_rmsnorm(residual, delta, L.mlp_norm, normed, eps); }
  if (a.spec.layer_is_moe(l)) {
    mlp_moe(a, l);
  } else {
    mlp_dense(a, l);
  }
  { OpScope o(a.prof, "add_rmsnorm", l); be.add_rmsnorm(residual, delta, next_norm, normed, eps); }
}

void lm_head(const ForwardArgs& a) {
  Backend& be = a.be;
  const int64_t R = a.step.num_logit_rows();
  Tensor rows = a.act.last_hidden.first_rows(R), logits = a.act.logits.first_rows(R);
  Tensor normed = a.act.normed.first_rows(a.step.num_tokens());
  { OpScope o(a.prof, "gather_logit_rows", -1); be.embedding(rows, normed, a.step.logit_rows()); }
  { OpScope o(a.prof, "matmul.lm_head", -1); be.matmul(logits, rows, a.w.lm_head, nullptr); }
  { OpScope o(a.prof, "argmax", -1); be.argmax(a.act.next_tokens, logits); }
}

void model_forward(const ForwardArgs& a) {
  Backend& be = a.be;
  const ModelSpec& s = a.spec;
  const int64_t T = a.step.num_tokens();
  Tensor residual = a.act.residual.first_rows(T), normed = a.act.normed.first_rows(T);

  { OpScope o(a.prof, "embedding", -1); be.embedding(residual, a.w.embed, a.step.tokens()); }
  { OpScope o(a.prof, "rmsnorm", 0); be.rmsnorm(normed, residual, a.w.layers[0].attn_norm, (float)s.rms_norm_eps); }
  for (int l = 0; l < (int)s.num_layers; ++l) {
    decoder_layer(a, l, residual, l + 1 < (int)s.num_layers ? a.w.layers[l + 1].attn_norm : a.w.final_norm);
  }
  lm_head(a);
}

}  // namespace gpubench
