// The forward pass, written once over the backend op interface: embedding, then per layer an
// attention block and a feed-forward block with fused residual adds and norms, then the LM head
// on the step's logit rows (each sequence's last token, or the rows MTP asks for). Blocks live in
// their own files (attention_gqa.cc, attention_mla.cc, mlp_dense.cc, moe.cc), and so does the MTP
// draft forward (mtp.cc). A rank of a parallel layout runs the same pass over its shard, with the
// collectives (core/communicator.h) as ops of their own: all_reduce.o_proj after the attention,
// all_reduce.mlp after a dense MLP, all_reduce.moe after an MoE block, and under DP attention
// all_gather.moe before it and reduce_scatter.moe after it. A layout of one rank calls none.
#pragma once
#include "backend/backend.h"
#include "core/communicator.h"
#include "core/kv_cache.h"
#include "core/layout.h"
#include "core/model_spec.h"
#include "core/profiler.h"
#include "core/routing.h"
#include "core/step.h"
#include "model/activations.h"
#include "model/weights.h"

namespace gpubench {

// The form MLA runs a step in (docs/design.md, "MLA: absorbed and decompressed"): absorbed
// (attention over the latent cache) or decompressed (per-head keys and values up-projected from the
// step's latents, then ordinary attention; only where no sequence of the step has a cached prefix).
enum class MlaForm { Absorbed, Decompressed };

// The form of a step: `prefill` (the engine's choice for prefill steps) where no sequence of the
// step has a cached prefix, else absorbed.
MlaForm mla_form(MlaForm prefill, const StepBuffers& step);
const char* mla_form_name(MlaForm f);

struct ForwardArgs {
  Backend& be;
  const ModelSpec& spec;    // the rank's: shard.local (its heads, intermediate sizes)
  const ShardSpec& shard;
  RankComms comm;
  const ModelWeights& w;
  const KvPool& kv;
  const StepBuffers& step;
  Activations& act;
  const float* inv_freq;  // device [rotary_dim / 2]
  float rope_attn_factor;
  Profiler* prof;  // null outside the profiled pass
  const PinnedRouting* pinned = nullptr;  // MoE: experts pinned by the routing policy (null: the router's choice)
  MlaForm mla = MlaForm::Absorbed;         // MLA models: the form of this step (mla_form)
};

// Runs one step: embeds step.tokens(), writes their K/V into the cache, leaves the last layer's
// output (before the final norm) in act.residual, and the logits of the step's logit rows in
// act.logits and their greedy next tokens in act.next_tokens.
void model_forward(const ForwardArgs& a);

// DeepSeek-V3's MTP module j over the step's rows: row r joins the hidden state h[r] (the main
// model's at that position, or the previous draft's) with the embedding of step.tokens()[r], the
// token after it, and goes through MTP layer num_layers + j (its own KV cache). Leaves the logits and
// greedy tokens of the logit rows, as model_forward, and their MTP hidden states in act.mtp_hidden.
void mtp_forward(const ForwardArgs& a, int j, Tensor h);

// Decoder layer l over the step's rows: reads act.normed (= input_layernorm(residual)), adds the
// attention and feed-forward outputs to residual, and leaves next_norm(residual) in act.normed.
void decoder_layer(const ForwardArgs& a, int l, Tensor residual, const Tensor& next_norm);
// act.normed's logit rows through the LM head; their argmax into act.next_tokens.
void lm_head(const ForwardArgs& a);

// Blocks: read act.normed (the normed residual), write their output into act.delta.
void attention_gqa(const ForwardArgs& a, int layer);
void attention_mla(const ForwardArgs& a, int layer);
void mlp_dense(const ForwardArgs& a, int layer);
void mlp_moe(const ForwardArgs& a, int layer);

// The first rows x cols elements of a scratch buffer as a [rows, cols] tensor (the SwiGLU scratch
// serves MLPs of different widths: the dense one and the MoE shared expert).
inline Tensor scratch(Tensor buf, int64_t rows, int64_t cols) { return Tensor{buf.data, buf.dtype, rows, cols}; }

// Columns [offset, offset + cols) of every row of t (e.g. q, k, v inside the fused qkv buffer).
inline Tensor columns(Tensor t, int64_t offset, int64_t cols) {
  return Tensor{(char*)t.data + offset * dtype_size(t.dtype), t.dtype, t.rows, cols};
}

}  // namespace gpubench
