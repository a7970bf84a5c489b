// Split-KV decoding, shared by GQA decode attention (attention_decode.cu) and MLA attention
// (mla_attention.cu): how many splits of the context, and the log-sum-exp merge of the splits'
// partial outputs. Each split writes its output normalized by its own sum and its lse in base 2
// (-inf for a split with no visible key, whose output is not written).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace gpubench {

// Splits of a decode's context per CTA, from `ctas` CTAs before splitting, at most max_splits,
// and `slots` CTAs resident at once. When one-chunk splits all fit in one wave, take them: a
// CTA's time is then one chunk's chain of dependent loads (the small-batch case). Otherwise the
// fewest splits whose CTAs fill their waves to 85% or more, so neither a short last wave nor
// needless partials cost time. Depends on host-side sizes only.
inline int64_t choose_splits(int64_t ctas, int64_t max_splits, int64_t slots) {
  if (ctas * max_splits <= slots) return max_splits;
  for (int64_t s = 1; s < max_splits; ++s) {
    const int64_t total = ctas * s, waves = (total + slots - 1) / slots;
    if (total * 100 >= waves * slots * 85) return s;
  }
  return max_splits;
}

struct SplitPlan {
  int split_tokens;  // a multiple of the kernel's chunk
  int num_splits;
};

// The split of a context of up to max_ctx_len tokens: no split shorter than min_split_tokens, no
// more partials (split_bytes each) than scratch_bytes hold, at most max_splits, each split a
// whole number of chunks. The count depends on host-side sizes only, so a CUDA graph captured at
// one context stays valid for shorter ones.
inline SplitPlan plan_splits(int64_t ctas, int64_t max_ctx_len, int64_t min_split_tokens, int64_t chunk,
                             int64_t split_bytes, size_t scratch_bytes, int64_t max_splits, int64_t slots) {
  const int64_t by_len = std::max<int64_t>(1, (max_ctx_len + min_split_tokens - 1) / min_split_tokens);
  const int64_t by_scratch = std::max<int64_t>(1, (int64_t)scratch_bytes / std::max<int64_t>(1, split_bytes));
  const int64_t splits = choose_splits(ctas, std::min({by_len, by_scratch, max_splits}), slots);
  const int64_t ctx = std::max<int64_t>(1, max_ctx_len);
  SplitPlan plan;
  plan.split_tokens = (int)(((ctx + splits - 1) / splits + chunk - 1) / chunk * chunk);
  plan.num_splits = (int)((ctx + plan.split_tokens - 1) / plan.split_tokens);
  return plan;
}

// A block's copy of one output row's split lses into shared memory (then a barrier).
__device__ __forceinline__ void load_split_lse(float* s_lse, const float* lse, int num_splits) {
  for (int i = threadIdx.x; i < num_splits; i += blockDim.x) s_lse[i] = lse[i];
  __syncthreads();
}

// One output value: sum_i w_i o_i / sum_i w_i with w_i = 2^(lse_i - max lse), over the splits'
// partials o (o[i * stride] for split i). Empty splits (lse = -inf) are skipped, never
// multiplied: their partial was not written. Every thread recomputes the weights from shared
// memory; there are at most a few hundred splits.
__device__ __forceinline__ float combine_splits(const float* s_lse, int num_splits, const float* o, int64_t stride) {
  float m = -INFINITY;
  for (int i = 0; i < num_splits; ++i) m = fmaxf(m, s_lse[i]);
  float num = 0.0f, den = 0.0f;
  // Unrolled with the skip as a predicate rather than a branch, so several splits' loads are in
  // flight at once (a long context at batch 1 has a hundred splits or more).
#pragma unroll 8
  for (int i = 0; i < num_splits; ++i) {
    const bool empty = s_lse[i] == -INFINITY;
    const float w = empty ? 0.0f : exp2f(s_lse[i] - m);
    num += empty ? 0.0f : w * o[i * stride];
    den += w;
  }
  return den > 0.0f ? num / den : 0.0f;
}

}  // namespace gpubench
