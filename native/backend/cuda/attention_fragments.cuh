// The online softmax and the output store of the tensor-core attention kernels
// (attention_decode.cu, attention_prefill.cu, attention_prefill_sm90.cu), on mma fragments: a
// warp's 16 query rows, with fr = lane / 4 and fc = 2 * (lane % 4), s[nt][i] the score of row
// fr + 8 (i >> 1) and key k0 + 8 nt + fc + (i & 1), o[dt][i] the same rows' output at dim
// 8 dt + fc + (i & 1). (mma.sync's C fragments; a wgmma accumulator is 4 warps' worth of them.)
#pragma once
#include <cuda_runtime.h>

#include "backend/cuda/attention.cuh"

namespace gpubench {

// Row r's (0: fr, 1: fr + 8) values of this lane folded pairwise, so the dependent chain is log2
// of the count deep: a 16-long chain stalled the warp, with few warps per scheduler to hide it.
template <int NT, typename Op>
__device__ __forceinline__ float row_tree(const float (&s)[NT][4], int r, Op op) {
  float v[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) v[nt] = op(s[nt][2 * r], s[nt][2 * r + 1]);
#pragma unroll
  for (int w = NT / 2; w > 0; w /= 2)
#pragma unroll
    for (int j = 0; j < w; ++j) v[j] = op(v[j], v[j + w]);
  return v[0];
}

// One key tile's online-softmax step, in base 2 with the softmax scale folded into the
// exponent's FFMA. When `masked`, keys at or past kv_end, and keys past a row's position (row fr
// sits at pos0, row fr + 8 at pos0 + 8), get no weight. m: the rows' running max (scaled), l: this
// lane's part of their sums; o is rescaled to the new max. On return s holds the probabilities.
template <int NT, int DT>
__device__ __forceinline__ void online_softmax(float (&s)[NT][4], float (&o)[DT][4], float (&m)[2],
                                               float (&l)[2], float scale_log2, bool masked, int k0,
                                               int pos0, int kv_end) {
  const int fc = 2 * (threadIdx.x % 4);
  if (masked) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int key = k0 + nt * 8 + fc + (i & 1);
        if (key > pos0 + 8 * (i >> 1) || key >= kv_end) s[nt][i] = -INFINITY;
      }
  }
  float base[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = row_tree(s, r, [](float x, float y) { return fmaxf(x, y); });
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m[r], mx * scale_log2);
    // A row that has seen no visible key yet keeps m = -inf; exponentiate against 0 then, which
    // avoids inf - inf and still gives p = 0 and alpha = 0.
    base[r] = m_new == -INFINITY ? 0.0f : m_new;
    const float alpha = exp2f(m[r] - base[r]);
    m[r] = m_new;
    l[r] *= alpha;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      o[dt][2 * r] *= alpha;
      o[dt][2 * r + 1] *= alpha;
    }
  }
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) s[nt][i] = exp2f(fmaf(s[nt][i], scale_log2, -base[i >> 1]));
#pragma unroll
  for (int r = 0; r < 2; ++r) l[r] += row_tree(s, r, [](float x, float y) { return x + y; });
}

// The A fragment of P for keys 16 kk .. 16 kk + 15: two adjacent 8-key C tiles of s, as bf16.
template <int NT>
__device__ __forceinline__ void p_fragment(uint32_t (&pa)[4], const float (&s)[NT][4], int kk) {
  pa[0] = pack_bf16x2(s[2 * kk][0], s[2 * kk][1]);
  pa[1] = pack_bf16x2(s[2 * kk][2], s[2 * kk][3]);
  pa[2] = pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
  pa[3] = pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
}

// Normalizes the 16 rows (row0 + fr, + 8) of head h of sequence rows starting at q0 and stores
// those below q_len as bf16 pairs; each row's sum is spread over its 4 lanes.
template <int DT>
__device__ __forceinline__ void store_rows(const AttnArgs& a, const float (&o)[DT][4], const float (&l)[2],
                                           int q0, int row0, int q_len, int h) {
  const int fr = (threadIdx.x % 32) / 4, fc = 2 * (threadIdx.x % 4);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int row = row0 + fr + 8 * r;
    if (row >= q_len) continue;
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    bf16* dst = a.out + (int64_t)(q0 + row) * a.out_stride + (int64_t)h * (DT * 8) + fc;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
      *reinterpret_cast<uint32_t*>(dst + dt * 8) = pack_bf16x2(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
  }
}

}  // namespace gpubench
