// DeepSeek-V3's multi-token prediction module (DeepSeek-V3 report, section 2.2) as a draft model:
//   x_r      = eh_proj([enorm(embed(next_r)) ; hnorm(h_r)])   embedding half first, as the checkpoints
//   y        = decoder layer num_layers + j (MLA + MoE) over x, causal, with its own KV cache
//   logits_r = lm_head(shared_head.norm(y_r))                 the token after next_r
// The embedding and the LM head are the main model's. eh_proj [D, 2D] is applied without building
// the concatenated rows: eh_proj [a ; b] = W_a a + W_b b, so the two normed halves are stacked as two
// "heads" of one matmul_heads with the two column halves of eh_proj as their weights, and the
// add_rmsnorm that opens the decoder layer sums them (x = W_a a, += W_b b) while it norms.
#include "model/forward.h"

namespace gpubench {

void mtp_forward(const ForwardArgs& a, int j, Tensor h) {
  Backend& be = a.be;
  const ModelSpec& s = a.spec;
  const int64_t T = a.step.num_tokens(), D = s.hidden_size, R = a.step.num_logit_rows();
  const int l = (int)s.num_layers + j;
  const float eps = (float)s.rms_norm_eps;
  const MtpWeights& M = a.w.mtp[j];
  // mtp_in holds the normed embeddings in rows [0, T) and the normed hidden states in [T, 2T);
  // mtp_out the two halves' products the same way.
  Tensor in = a.act.mtp_in.first_rows(2 * T), out = a.act.mtp_out.first_rows(2 * T);
  Tensor emb = in.first_rows(T), hid = Tensor{in.row(T).data, in.dtype, T, D};
  Tensor x = out.first_rows(T), x_h = Tensor{out.row(T).data, out.dtype, T, D};

  { OpScope o(a.prof, "embedding", l); be.embedding(emb, a.w.embed, a.step.tokens()); }
  { OpScope o(a.prof, "rmsnorm.enorm", l); be.rmsnorm(emb, emb, M.enorm, eps); }
  { OpScope o(a.prof, "rmsnorm.hnorm", l); be.rmsnorm(hid, h, M.hnorm, eps); }
  {
    OpScope o(a.prof, "matmul_heads.eh_proj", l);
    Backend::HeadSlices halves_in{in.data, in.dtype, T, 2, D, D, T * D};
    Backend::HeadSlices halves_out{out.data, out.dtype, T, 2, D, D, T * D};
    Backend::HeadSlices w{M.eh_proj.data, M.eh_proj.dtype, D, 2, D, 2 * D, D};
    be.matmul_heads(halves_out, halves_in, w, false);
  }
  {
    OpScope o(a.prof, "add_rmsnorm", l);
    be.add_rmsnorm(x, x_h, a.w.layers[l].attn_norm, a.act.normed.first_rows(T), eps);
  }
  decoder_layer(a, l, x, M.head_norm);
  lm_head(a);
  // The next draft's hidden state: y at the rows just drafted from (K > 1 reuses the module).
  OpScope o(a.prof, "gather_logit_rows", l);
  be.embedding(a.act.mtp_hidden.first_rows(R), x, a.step.logit_rows());
}

}  // namespace gpubench
