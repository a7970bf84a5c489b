// Paged decode attention (one query row per sequence), flash-decoding style.
// Reference: attention() in backend/cpu/attention.cc.
//
// Grid: (context split, KV head x head group, sequence). A CTA reads each K and V row of its KV
// head's slice once and applies it to all query heads of the GQA group (up to kMaxHeads; larger
// groups take several CTAs), so KV traffic is one pass over the cache. The number of splits is a
// function of host-side sizes only (max_ctx_len, batch, heads, SM count), so a CUDA graph
// captured for max_ctx_len stays valid for every shorter context: CTAs whose split starts past
// the sequence's real ctx_len (read from device memory) write an empty partial. With one split
// the CTA writes the output itself; otherwise a combine kernel merges the partials through
// their log-sum-exp.
#include <algorithm>
#include <type_traits>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/check.h"

namespace gpubench {

namespace {

constexpr int kThreads = 128;
constexpr int kMaxHeads = 8;  // query heads per CTA: q and the accumulators live in registers
constexpr int kChunk = 64;    // tokens scored, softmaxed and accumulated per round
// Down to one chunk per split: at small batch a CTA's time is its chain of dependent loads,
// one round per chunk, so short splits (more CTAs, a few more partials) finish sooner.
constexpr int kMinSplitTokens = kChunk;
static_assert(kChunk == 64, "the softmax step gives each lane two tokens of a chunk");

struct DecodeArgs {
  AttnArgs a;
  int head_groups;   // ceil(group size / kMaxHeads)
  int num_splits;
  int split_tokens;  // a multiple of kChunk
  float* o_part;     // [num_seqs][num_heads][num_splits][head_dim], normalized by its own sum
  float* lse_part;   // [num_seqs][num_heads][num_splits], base 2; -inf for an empty split
};

// Thread layout: D/8 "slices" of 8 dims (one 16-byte load) times kThreads/(D/8) token lanes.
// A token's K row is read by the D/8 threads of one slice group (adjacent lanes of one warp),
// whose partial dot products are summed with xor shuffles. H (1, 2, 4 or 8) is the number of
// query heads the CTA serves, rounded up to a power of two: every head loop is unrolled
// without a break, so the per-head shuffle chains interleave, and small groups keep few
// registers (more CTAs per SM). Heads past the group's real count get zero queries and their
// results are dropped.
template <int D, int H>
__global__ void __launch_bounds__(kThreads) decode_kernel(DecodeArgs p) {
  constexpr int kSlices = D / 8;
  constexpr int kLanes = kThreads / kSlices;
  constexpr int kPerThread = kChunk / kLanes;
  constexpr int kWarps = kThreads / 32;
  constexpr int kHeadsPerWarp = (H + kWarps - 1) / kWarps;  // softmax step: warp w owns w, w + 4
  const AttnArgs& a = p.a;
  const int split = blockIdx.x, seq = blockIdx.z;
  const int group = a.num_heads / a.num_kv_heads;
  const int kvh = blockIdx.y / p.head_groups;
  const int h0 = kvh * group + (blockIdx.y % p.head_groups) * kMaxHeads;
  const int nh = min(H, kvh * group + group - h0);  // real heads of this CTA
  const int ctx = a.ctx_len[seq];
  const int begin = split * p.split_tokens, end = min(begin + p.split_tokens, ctx);
  const int slice = threadIdx.x % kSlices, lane_t = threadIdx.x / kSlices;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q_row = a.q_start[seq];

  __shared__ float s_p[H][kChunk];  // scores, then probabilities, of the current chunk
  __shared__ float s_alpha[H];      // this chunk's rescale factor per head
  __shared__ float s_m[H], s_l[H];  // final max and sum, for the output step
  __shared__ float s_red[kLanes][H][D];  // per-token-lane accumulators, summed at the end

  if (begin >= end) {  // split past this sequence's context (or an empty context)
    for (int i = threadIdx.x; i < nh * D; i += kThreads) {
      const int g = i / D, d = i % D;
      if (p.num_splits == 1)
        a.out[q_row * a.out_stride + (int64_t)(h0 + g) * D + d] = __float2bfloat16_rn(0.0f);
      else if (d == 0)
        p.lse_part[((int64_t)seq * a.num_heads + h0 + g) * p.num_splits + split] = -INFINITY;
    }
    return;
  }

  float q[H][8], acc[H][8];
#pragma unroll
  for (int g = 0; g < H; ++g) {
    uint4 raw = make_uint4(0, 0, 0, 0);
    const bf16* src = a.q + q_row * a.q_stride + (int64_t)(h0 + g) * D + slice * 8;
    if (g < nh) raw = *reinterpret_cast<const uint4*>(src);
    bf16x8_to_f32(raw, q[g]);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      q[g][e] *= a.scale_log2;
      acc[g][e] = 0.0f;
    }
  }
  // Running max and sum of the heads this warp owns in the softmax step; every lane of the
  // warp holds the same values (they come out of full-warp reductions).
  float m[kHeadsPerWarp], l[kHeadsPerWarp];
#pragma unroll
  for (int i = 0; i < kHeadsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
  }

  const int32_t* seq_blocks = a.block_table + (int64_t)seq * a.max_blocks_per_seq;
  // This thread's 8 dims of token tok's K or V row; zeros past the split's end.
  auto load_row = [&](const bf16* cache, int tok) {
    if (tok >= end) return make_uint4(0, 0, 0, 0);
    return *reinterpret_cast<const uint4*>(cache + kv_offset(a, seq_blocks, tok, kvh) + slice * 8);
  };
  // K rows of the first chunk. Each round issues its V loads before scoring and the next
  // chunk's K loads right after, so loads stay in flight through the whole round (a split of
  // one chunk, the small-batch case, waits for K and V once, together).
  uint4 kr[kPerThread], vr[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) kr[j] = load_row(a.k_cache, begin + lane_t + j * kLanes);
  for (int c0 = begin; c0 < end; c0 += kChunk) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) vr[j] = load_row(a.v_cache, c0 + lane_t + j * kLanes);
    // 1. Scores.
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      float k[8];
      bf16x8_to_f32(kr[j], k);
      const int t = lane_t + j * kLanes;
#pragma unroll
      for (int g = 0; g < H; ++g) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) dot += q[g][e] * k[e];
#pragma unroll
        for (int o = kSlices / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        if (slice == 0) s_p[g][t] = c0 + t < end ? dot : -INFINITY;
      }
    }
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) kr[j] = load_row(a.k_cache, c0 + kChunk + lane_t + j * kLanes);
    __syncthreads();

    // 2. Online softmax, one warp per head; each lane takes two of the chunk's tokens.
#pragma unroll
    for (int i = 0; i < kHeadsPerWarp; ++i) {
      const int g = warp + i * kWarps;
      if (g >= H) break;  // warp-uniform
      const float x0 = s_p[g][lane], x1 = s_p[g][lane + 32];
      const float m_new = fmaxf(m[i], warp_max(fmaxf(x0, x1)));  // finite: c0 < end
      const float p0 = exp2f(x0 - m_new), p1 = exp2f(x1 - m_new);
      const float alpha = exp2f(m[i] - m_new);
      s_p[g][lane] = p0;
      s_p[g][lane + 32] = p1;
      l[i] = l[i] * alpha + warp_sum(p0 + p1);
      m[i] = m_new;
      if (lane == 0) s_alpha[g] = alpha;
    }
    __syncthreads();

    // 3. acc = acc * alpha + p V. Padding tokens loaded zeros and have p = 0.
#pragma unroll
    for (int g = 0; g < H; ++g) {
      const float alpha = s_alpha[g];
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[g][e] *= alpha;
    }
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      float v[8];
      bf16x8_to_f32(vr[j], v);
      const int t = lane_t + j * kLanes;
#pragma unroll
      for (int g = 0; g < H; ++g) {
        const float pr = s_p[g][t];
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] += pr * v[e];
      }
    }
    __syncthreads();  // s_p and s_alpha are rewritten by the next chunk
  }

  // Sum the token lanes' accumulators and normalize by the head's softmax sum.
#pragma unroll
  for (int i = 0; i < kHeadsPerWarp; ++i) {
    const int g = warp + i * kWarps;
    if (g < H && lane == 0) {
      s_m[g] = m[i];
      s_l[g] = l[i];
    }
  }
#pragma unroll
  for (int g = 0; g < H; ++g)
#pragma unroll
    for (int e = 0; e < 8; ++e) s_red[lane_t][g][slice * 8 + e] = acc[g][e];
  __syncthreads();
  for (int i = threadIdx.x; i < nh * D; i += kThreads) {
    const int g = i / D, d = i % D;
    float sum = 0.0f;
#pragma unroll
    for (int t = 0; t < kLanes; ++t) sum += s_red[t][g][d];
    const float o = sum / s_l[g];
    if (p.num_splits == 1) {
      a.out[q_row * a.out_stride + (int64_t)(h0 + g) * D + d] = __float2bfloat16_rn(o);
    } else {
      const int64_t part = ((int64_t)seq * a.num_heads + h0 + g) * p.num_splits + split;
      p.o_part[part * D + d] = o;
      if (d == 0) p.lse_part[part] = s_m[g] + __log2f(s_l[g]);
    }
  }
}

// One block of D threads per (head, sequence): out = sum_i w_i o_i / sum_i w_i with
// w_i = 2^(lse_i - max lse). Empty splits (lse = -inf) are skipped, never multiplied: their
// o_part was not written. Every thread recomputes the weights from shared memory; there are
// at most a few hundred splits.
template <int D>
__global__ void __launch_bounds__(D) combine_kernel(DecodeArgs p) {
  extern __shared__ float s_lse[];
  const AttnArgs& a = p.a;
  const int h = blockIdx.x, seq = blockIdx.y, d = threadIdx.x;
  const int64_t base = ((int64_t)seq * a.num_heads + h) * p.num_splits;
  for (int i = threadIdx.x; i < p.num_splits; i += D) s_lse[i] = p.lse_part[base + i];
  __syncthreads();
  float m = -INFINITY;
  for (int i = 0; i < p.num_splits; ++i) m = fmaxf(m, s_lse[i]);
  float num = 0.0f, den = 0.0f;
  // Unrolled with the skip as a predicate rather than a branch, so several splits' loads are in
  // flight at once (a long context at batch 1 has a hundred splits or more).
#pragma unroll 8
  for (int i = 0; i < p.num_splits; ++i) {
    const bool empty = s_lse[i] == -INFINITY;
    const float w = empty ? 0.0f : exp2f(s_lse[i] - m);
    num += empty ? 0.0f : w * p.o_part[(base + i) * D + d];
    den += w;
  }
  const int q_row = a.q_start[seq];
  const float o = den > 0.0f ? num / den : 0.0f;
  a.out[q_row * a.out_stride + (int64_t)h * D + d] = __float2bfloat16_rn(o);
}

template <int D, int H>
void launch(const DecodeArgs& p, cudaStream_t stream) {
  const dim3 grid(p.num_splits, p.a.num_kv_heads * p.head_groups, p.a.num_seqs);
  decode_kernel<D, H><<<grid, kThreads, 0, stream>>>(p);
  check_launch();
  if (p.num_splits > 1) {
    const dim3 combine_grid(p.a.num_heads, p.a.num_seqs);
    combine_kernel<D><<<combine_grid, D, p.num_splits * sizeof(float), stream>>>(p);
    check_launch();
  }
}

// Calls f(D, H) with the kernel's template arguments as integral constants: D the head width
// (real models use 64 and 128; 16 and 32 are the tiny test models'), H the query heads per CTA.
template <typename F>
void with_kernel_shape(int head_dim, int heads_per_cta, F&& f) {
  auto with_h = [&](auto d) {
    if (heads_per_cta == 1) f(d, std::integral_constant<int, 1>{});
    else if (heads_per_cta == 2) f(d, std::integral_constant<int, 2>{});
    else if (heads_per_cta <= 4) f(d, std::integral_constant<int, 4>{});
    else f(d, std::integral_constant<int, 8>{});
  };
  switch (head_dim) {
    case 16: with_h(std::integral_constant<int, 16>{}); break;
    case 32: with_h(std::integral_constant<int, 32>{}); break;
    case 64: with_h(std::integral_constant<int, 64>{}); break;
    default: with_h(std::integral_constant<int, 128>{}); break;
  }
}

}  // namespace

void attention_decode(const AttnArgs& a, void* scratch, size_t scratch_bytes, int num_sms,
                      cudaStream_t stream) {
  DecodeArgs p{a};
  const int group = a.num_heads / a.num_kv_heads;
  p.head_groups = (group + kMaxHeads - 1) / kMaxHeads;
  const int heads_per_cta = std::min(group, kMaxHeads);
  int per_sm = 0;  // CTAs of this kernel one SM holds at once
  with_kernel_shape(a.head_dim, heads_per_cta, [&](auto d, auto h) {
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &per_sm, decode_kernel<decltype(d)::value, decltype(h)::value>, kThreads, 0));
  });
  // No split shorter than kMinSplitTokens, and no more partials than the scratch holds.
  const int64_t ctas = (int64_t)a.num_seqs * a.num_kv_heads * p.head_groups;
  const int64_t by_len = std::max(1, (a.max_ctx_len + kMinSplitTokens - 1) / kMinSplitTokens);
  const int64_t per_split = (int64_t)a.num_seqs * a.num_heads * (a.head_dim + 1) * sizeof(float);
  const int64_t by_scratch = std::max<int64_t>(1, (int64_t)scratch_bytes / per_split);
  const int64_t splits =
      choose_splits(ctas, std::min(by_len, by_scratch), (int64_t)std::max(1, per_sm) * num_sms);
  const int64_t ctx = std::max(1, a.max_ctx_len);
  p.split_tokens = (int)(((ctx + splits - 1) / splits + kChunk - 1) / kChunk * kChunk);
  p.num_splits = (int)((ctx + p.split_tokens - 1) / p.split_tokens);
  p.o_part = static_cast<float*>(scratch);
  p.lse_part = p.o_part + (int64_t)a.num_seqs * a.num_heads * p.num_splits * a.head_dim;
  with_kernel_shape(a.head_dim, heads_per_cta, [&](auto d, auto h) {
    launch<decltype(d)::value, decltype(h)::value>(p, stream);
  });
}

}  // namespace gpubench
