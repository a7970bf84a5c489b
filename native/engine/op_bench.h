// One backend op timed alone, in the style of llm.c's dev/cuda: inputs allocated for one shape,
// warm-up calls, then timed calls each bracketed by device events (the L2 flushed before each
// where the op's inputs come from memory in a forward pass: weights, the KV cache). The caller
// divides bytes and flops by the measured peaks for the op's floor (bench/ops.mjs).
#pragma once
#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "core/model_spec.h"

namespace gpubench {

// op: "matmul" (m, n, k), "attention_decode" (batch sequences of context ctx, one query each),
// "attention_prefill" (one causal sequence of `tokens`), "rmsnorm", "rope_kv_write", "swiglu"
// (`tokens` rows). Head counts, head_dim, hidden and intermediate sizes are the model's.
struct OpBenchCase {
  std::string op;
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 0, ctx = 0, tokens = 0;
  int warmup = 0, calls = 0;
};

struct OpTiming {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int calls = 0;
  bool l2_flushed = false;  // before each timed call (only where the backend has a cache to flush)
  double bytes = 0;  // the op's minimum memory traffic: every input read once, every output written once
  double flops = 0;
};

OpTiming bench_op(Backend& be, const ModelSpec& spec, int64_t block_size, const OpBenchCase& c);

}  // namespace gpubench
