#include "model/forward.h"

namespace gpubench {

void model_forward(const ForwardArgs& a) {
  Backend& be = a.be;
  const ModelSpec& s = a.spec;
  const int64_t T = a.step.num_tokens(), S = a.step.num_seqs();
  const float eps = (float)s.rms_norm_eps;
  Tensor residual = a.act.residual.first_rows(T), normed = a.act.normed.first_rows(T);
  Tensor delta = a.act.delta.first_rows(T);

  { OpScope o(a.prof, "embedding", -1); be.embedding(residual, a.w.embed, a.step.tokens()); }
  { OpScope o(a.prof, "rmsnorm", 0); be.rmsnorm(normed, residual, a.w.layers[0].attn_norm, eps); }
  for (int l = 0; l < (int)s.num_layers; ++l) {
    const LayerWeights& L = a.w.layers[l];
    const Tensor& next_norm = l + 1 < (int)s.num_layers ? a.w.layers[l + 1].attn_norm : a.w.final_norm;
    attention_gqa(a, l);
    { OpScope o(a.prof, "add_rmsnorm", l); be.add_rmsnorm(residual, delta, L.mlp_norm, normed, eps); }
    if (s.layer_is_moe(l)) {
      mlp_moe(a, l);
    } else {
      mlp_dense(a, l);
    }
    { OpScope o(a.prof, "add_rmsnorm", l); be.add_rmsnorm(residual, delta, next_norm, normed, eps); }
  }

  // Only each sequence's last token goes through the LM head.
  Tensor last = a.act.last_hidden.first_rows(S), logits = a.act.logits.first_rows(S);
  { OpScope o(a.prof, "gather_last", -1); be.embedding(last, normed, a.step.last_rows()); }
  { OpScope o(a.prof, "matmul.lm_head", -1); be.matmul(logits, last, a.w.lm_head, nullptr); }
  { OpScope o(a.prof, "argmax", -1); be.argmax(a.act.next_tokens, logits); }
}

}  // namespace gpubench
