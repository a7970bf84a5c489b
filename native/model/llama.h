// The dense Llama-family forward pass (llama, mistral, qwen2, qwen3), written once over the
// backend op interface.
#pragma once
#include "backend/backend.h"
#include "core/kv_cache.h"
#include "core/profiler.h"
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
  const float* inv_freq;  // device [head_dim / 2]
  float rope_attn_factor;
  Profiler* prof;  // null outside the profiled pass
};

// Runs one step: embeds step.tokens(), writes their K/V into the cache, and leaves the logits
// of each sequence's last token in act.logits and its greedy next token in act.next_tokens.
void llama_forward(const ForwardArgs& a);

}  // namespace gpubench
