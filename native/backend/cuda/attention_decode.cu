// Paged decode attention (one query row per sequence), flash-decoding style, on the tensor cores.
// Reference: attention() in backend/cpu/attention.cc.
//
// Grid: (context split, KV head x head group, sequence). A CTA serves up to 16 query heads of
// one GQA group, stacked as the 16 rows of an mma.m16n8k16 A tile, so each K and V row of its
// KV head is read once for all of them and the dot products are a few MMAs instead of thousands
// of FMAs and shuffles (rows past the group's size are zeros; the tensor cores have time to
// spare, the memory system does not). Each of the 4 warps takes its own 16 keys of every
// 64-key round, with its own cp.async double buffer, online softmax and output accumulators,
// so warps never wait for each other until the end, where their states are merged through
// shared memory. The fragment layouts are those of attention_prefill.cu.
//
// The number of splits is a function of host-side sizes only (max_ctx_len, batch, heads, SM
// count), so a CUDA graph captured for max_ctx_len stays valid for every shorter context: CTAs
// whose split starts past the sequence's real ctx_len (read from device memory) write an empty
// partial. With one split the CTA writes the output itself; otherwise a combine kernel merges
// the partials through their log-sum-exp.
#include <algorithm>
#include <climits>
#include <limits>
#include <type_traits>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/attention.cuh"
#include "backend/cuda/attention_fragments.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/split_kv.cuh"

namespace gpubench {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 16;                  // query heads per CTA: one mma M tile
constexpr int kWarpKeys = 16;              // keys per warp per round
constexpr int kChunk = kWarps * kWarpKeys;  // keys per CTA per round
// Down to one round per split: at small batch a CTA's time is its chain of dependent loads,
// so short splits (more CTAs, a few more partials) finish sooner.
constexpr int kMinSplitTokens = kChunk;
constexpr int kPad = 8;  // shared rows padded by 16 bytes: conflict-free ldmatrix phases

struct DecodeArgs {
  AttnArgs a;
  int head_groups;   // ceil(group size / kRows)
  int num_splits;
  int split_tokens;  // a multiple of kChunk
  float* o_part;     // [num_seqs][num_heads][num_splits][head_dim], normalized by its own sum
  float* lse_part;   // [num_seqs][num_heads][num_splits], base 2; -inf for an empty split
};

// One warp's buffers: two stages of its 16 K and V rows.
template <int D>
struct WarpKv {
  bf16 k[2][kWarpKeys][D + kPad];
  bf16 v[2][kWarpKeys][D + kPad];
};

template <int D>
struct DecodeSmem {
  union {
    WarpKv<D> kv[kWarps];
    float o[kWarps][kRows][D];  // the warps' outputs, merged at the end
  };
  float m[kWarps][kRows], l[kWarps][kRows];
};

template <int D>
__global__ void __launch_bounds__(kThreads) decode_kernel(DecodeArgs p) {
  start_dependent_kernel();
  extern __shared__ uint4 smem_raw[];
  DecodeSmem<D>& sm = *reinterpret_cast<DecodeSmem<D>*>(smem_raw);
  const AttnArgs& a = p.a;
  const int split = blockIdx.x, seq = blockIdx.z;
  const int group = a.num_heads / a.num_kv_heads;
  const int kvh = blockIdx.y / p.head_groups;
  const int h0 = kvh * group + (blockIdx.y % p.head_groups) * kRows;
  const int nh = min(kRows, kvh * group + group - h0);  // real heads (rows) of this CTA
  const int ctx = a.ctx_len[seq];
  const int begin = split * p.split_tokens, end = min(begin + p.split_tokens, ctx);
  const int q_row = a.q_start[seq];

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

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int fr = lane / 4, fc = 2 * (lane % 4);
  const int g = lane / 8, gr = lane % 8;  // ldmatrix: lane group g gives the rows of matrix g
  const int32_t* seq_blocks = a.block_table + (int64_t)seq * a.max_blocks_per_seq;
  WarpKv<D>& kv = sm.kv[warp];

  // This warp's 16 keys of the round starting at c0, in 16-byte pieces; consecutive lanes take
  // consecutive pieces of a row, so each copy instruction reads whole rows. Keys past the split's
  // end are zero-filled: a NaN there would survive p = 0 in the mma.
  auto load_keys = [&](int stage, int c0) {
    constexpr int kPieces = D / 8;
#pragma unroll
    for (int i = lane; i < kWarpKeys * kPieces; i += 32) {
      const int key = i / kPieces, c = (i % kPieces) * 8, j = c0 + warp * kWarpKeys + key;
      const bool valid = j < end;
      const int64_t off = valid ? kv_offset(a, seq_blocks, j, kvh) + c : 0;
      cp_async_16(&kv.k[stage][key][c], a.k_cache + off, valid);
      cp_async_16(&kv.v[stage][key][c], a.v_cache + off, valid);
    }
  };
  load_keys(0, begin);
  cp_async_commit();

  // A fragments of Q (row i = head h0 + i; zeros past nh), read once from global memory while
  // the first keys are in flight, and kept for every round.
  uint32_t qa[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int row = fr + 8 * (i & 1), col = kk * 16 + fc + 8 * (i >> 1);
      qa[kk][i] = row < nh ? *reinterpret_cast<const uint32_t*>(
                                 a.q + q_row * a.q_stride + (int64_t)(h0 + row) * D + col)
                           : 0u;
    }
  float o[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows fr and fr + 8

  const int rounds = (end - begin + kChunk - 1) / kChunk;
  for (int r = 0; r < rounds; ++r) {
    const int c0 = begin + r * kChunk, stage = r & 1;
    if (r + 1 < rounds) {  // the other stage was freed by the __syncwarp ending round r - 1
      load_keys(stage ^ 1, c0 + kChunk);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncwarp();  // the warp's copies of this stage have landed for every lane

    // S = Q K^T: 16 rows x 16 keys; one ldmatrix.x4 of K feeds both 8-key n tiles.
    float s[2][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t b[4];
      ldmatrix_x4(b, &kv.k[stage][(g >> 1) * 8 + gr][kk * 16 + (g & 1) * 8]);
      mma_bf16(s[0], qa[kk], b[0], b[1]);
      mma_bf16(s[1], qa[kk], b[2], b[3]);
    }
    // Online softmax; keys past the split's end are masked (no causal mask: the query is the
    // sequence's last position). P's two 8-key C tiles are the A fragment of P V.
    const int key0 = c0 + warp * kWarpKeys;
    online_softmax(s, o, m, l, a.scale_log2, key0 + kWarpKeys > end, key0, INT_MAX - 8, end);
    uint32_t pa[4];
    p_fragment(pa, s, 0);
    // O += P V: one ldmatrix.x4.trans of V feeds two 8-dim n tiles.
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, &kv.v[stage][(g & 1) * 8 + gr][dp * 16 + (g >> 1) * 8]);
      mma_bf16(o[2 * dp], pa, b[0], b[1]);
      mma_bf16(o[2 * dp + 1], pa, b[2], b[3]);
    }
    __syncwarp();  // every lane is done with this stage before it is refilled
  }

  // Merge the 4 warps' (m, l, O) of each row: O = sum_w 2^(m_w - M) O_w / sum_w 2^(m_w - M) l_w.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
  }
  __syncthreads();  // every warp is done with its K/V stages: sm.o overlays them
  if (lane % 4 == 0) {
    sm.m[warp][fr] = m[0], sm.m[warp][fr + 8] = m[1];
    sm.l[warp][fr] = l[0], sm.l[warp][fr + 8] = l[1];
  }
#pragma unroll
  for (int dt = 0; dt < D / 8; ++dt)
#pragma unroll
    for (int i = 0; i < 4; ++i) sm.o[warp][fr + 8 * (i >> 1)][dt * 8 + fc + (i & 1)] = o[dt][i];
  __syncthreads();
  for (int i = threadIdx.x; i < nh * D; i += kThreads) {
    const int row = i / D, d = i % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm.m[w][row]);  // finite: begin < end
    float num = 0.0f, den = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float wt = sm.m[w][row] == -INFINITY ? 0.0f : exp2f(sm.m[w][row] - mx);
      num += wt * sm.o[w][row][d];
      den += wt * sm.l[w][row];
    }
    const float out = num / den;
    if (p.num_splits == 1) {
      a.out[q_row * a.out_stride + (int64_t)(h0 + row) * D + d] = __float2bfloat16_rn(out);
    } else {
      const int64_t part = ((int64_t)seq * a.num_heads + h0 + row) * p.num_splits + split;
      p.o_part[part * D + d] = out;
      if (d == 0) p.lse_part[part] = mx + __log2f(den);
    }
  }
}

// One block of D threads per (head, sequence), one thread per dim: the splits' merge
// (split_kv.cuh).
template <int D>
__global__ void __launch_bounds__(D) combine_kernel(DecodeArgs p) {
  start_dependent_kernel();
  extern __shared__ float s_lse[];
  const AttnArgs& a = p.a;
  const int h = blockIdx.x, seq = blockIdx.y, d = threadIdx.x;
  const int64_t base = ((int64_t)seq * a.num_heads + h) * p.num_splits;
  load_split_lse(s_lse, p.lse_part + base, p.num_splits);
  const float o = combine_splits(s_lse, p.num_splits, p.o_part + base * D + d, D);
  const int q_row = a.q_start[seq];
  a.out[q_row * a.out_stride + (int64_t)h * D + d] = __float2bfloat16_rn(o);
}

template <int D>
void launch(const DecodeArgs& p, int smem, cudaStream_t stream, bool pdl) {
  const dim3 grid(p.num_splits, p.a.num_kv_heads * p.head_groups, p.a.num_seqs);
  launch_kernel(pdl, decode_kernel<D>, grid, kThreads, smem, stream, p);
  check_launch();
  if (p.num_splits > 1) {
    const dim3 combine_grid(p.a.num_heads, p.a.num_seqs);
    launch_kernel(pdl, combine_kernel<D>, combine_grid, D, p.num_splits * sizeof(float), stream, p);
    check_launch();
  }
}

// Calls f with the head width D (real models use 64 and 128; 16 and 32 are the tiny test
// models') as an integral constant.
template <typename F>
void with_head_dim(int head_dim, F&& f) {
  switch (head_dim) {
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    default: f(std::integral_constant<int, 128>{}); break;
  }
}

}  // namespace

void attention_decode(const AttnArgs& a, void* scratch, size_t scratch_bytes, int num_sms,
                      cudaStream_t stream, bool pdl) {
  DecodeArgs p{a};
  const int group = a.num_heads / a.num_kv_heads;
  p.head_groups = (group + kRows - 1) / kRows;
  int per_sm = 0, smem = 0;  // CTAs of this kernel one SM holds at once; its shared memory
  with_head_dim(a.head_dim, [&](auto d) {
    constexpr int D = decltype(d)::value;
    smem = (int)sizeof(DecodeSmem<D>);
    CUDA_CHECK(cudaFuncSetAttribute(decode_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_kernel<D>, kThreads, smem));
  });
  // No split shorter than kMinSplitTokens, and no more partials than the scratch holds.
  const int64_t ctas = (int64_t)a.num_seqs * a.num_kv_heads * p.head_groups;
  const int64_t split_bytes = (int64_t)a.num_seqs * a.num_heads * (a.head_dim + 1) * sizeof(float);
  const SplitPlan plan = plan_splits(ctas, a.max_ctx_len, kMinSplitTokens, kChunk, split_bytes, scratch_bytes,
                                     std::numeric_limits<int64_t>::max(), (int64_t)std::max(1, per_sm) * num_sms);
  p.split_tokens = plan.split_tokens;
  p.num_splits = plan.num_splits;
  p.o_part = static_cast<float*>(scratch);
  p.lse_part = p.o_part + (int64_t)a.num_seqs * a.num_heads * p.num_splits * a.head_dim;
  with_head_dim(a.head_dim, [&](auto d) { launch<decltype(d)::value>(p, smem, stream, pdl); });
}

}  // namespace gpubench
