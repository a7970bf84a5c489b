// The forward pass, written once over the backend op interface: embedding, then per layer an
// attention block and a feed-forward block with fused residual adds and norms, then the LM head
// on each sequence's last token. Blocks live in their own files (attention_gqa.cc, mlp_dense.cc,
// moe.cc).
#pragma once
#include "backend/backend.h"
#include "core/kv_cache.h"
#include "core/profiler.h"
#include "core/routing.h"
#include "core/spec.h"
#include "core/step.h"
#include "model/activations.h"
#include "model/weights.h"

namespace gpubench {

struct ForwardArgs {
  Backend& be;
  const ModelSpec& spec;
  const ModelWeights& w;
  const KvPool& kv;
  const StepBuffers& step;
  Activations& act;
  const float* inv_freq;  // device [rotary_dim / 2]
  float rope_attn_factor;
  Profiler* prof;  // null outside the profiled pass
  const PinnedRouting* pinned = nullptr;  // MoE: experts pinned by the routing policy (null: the router's choice)
};

// Runs one step: embeds step.tokens(), writes their K/V into the cache, and leaves the logits
// of each sequence's last token in act.logits and its greedy next token in act.next_tokens.
void model_forward(const ForwardArgs& a);

// Blocks: read act.normed (the normed residual), write their output into act.delta.
void attention_gqa(const ForwardArgs& a, int layer);
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
