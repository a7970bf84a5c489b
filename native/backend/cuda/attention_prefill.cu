// Causal prefill attention over the paged KV cache, flash-attention style, on the tensor cores
// (mma.sync m16n8k16, bf16 in, fp32 accumulate). Reference: attention() in
// backend/cpu/attention.cc.
//
// Grid: (query head, sequence, 64-row query tile); 4 warps, 16 query rows each. For each tile of
// 64 keys the CTA stages K (row-major) and V (transposed) in shared memory; each warp computes
// S = Q K^T for its rows, applies the causal mask and the online softmax in registers, and adds
// P V into its fp32 output fragments. Query row i of a sequence sits at position
// ctx_len - q_len + i, so a cached prefix (ctx_len > q_len) is attended like any other key.
//
// Kept simple on purpose, with room left for speed: loads are synchronous (no cp.async double
// buffering) and each query head reads its KV head's tiles itself (GQA re-reads hit L2).
#include "backend/cuda/attention.cuh"
#include "backend/cuda/check.h"

namespace gpubench {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBlockQ = 16 * kWarps;  // query rows per CTA: one mma M tile per warp
constexpr int kBlockK = 64;           // keys per tile
// Shared rows padded by 16 bytes so the fragment loads below (8 rows x 4 words per warp) fall
// in 32 different banks.
constexpr int kPad = 8;

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ uint32_t word_at(const bf16* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

// Fragment layouts of mma.m16n8k16 (PTX ISA), with fr = lane / 4 and fc = 2 * (lane % 4):
//   A (16x16, row-major) a[i]: row fr + 8 * (i & 1), columns fc + 8 * (i >> 1) and +1
//   B (16x8, "col")      b0: rows (k) fc, fc + 1 of column (n) fr; b1: rows fc + 8, fc + 9
//   C (16x8)             c[i]: row fr + 8 * (i >> 1), column fc + (i & 1)
// Two adjacent 8-key C tiles of S are exactly the A fragment of P for one 16-key step of P V.
template <int D>
__global__ void __launch_bounds__(kThreads) prefill_kernel(AttnArgs a) {
  __shared__ __align__(16) bf16 s_k[kBlockK][D + kPad];   // [key][dim]
  __shared__ __align__(16) bf16 s_vt[D][kBlockK + kPad];  // [dim][key]: key pairs adjacent for B

  const int h = blockIdx.x, seq = blockIdx.y;
  const int kvh = h / (a.num_heads / a.num_kv_heads);
  const int q0 = a.q_start[seq], q_len = a.q_start[seq + 1] - q0;
  // The tile index is the slowest grid dimension, reversed: the last tiles of the causal
  // triangle, which see the most keys, start first and the short ones fill in the tail.
  const int row0 = (gridDim.z - 1 - blockIdx.z) * kBlockQ;
  if (row0 >= q_len) return;  // the grid covers max_q_len; this sequence has fewer rows
  const int ctx = a.ctx_len[seq];
  const int prefix = ctx - q_len;
  // Keys up to the tile's last row: every key any row of the tile sees.
  const int kv_end = min(ctx, prefix + min(row0 + kBlockQ, q_len));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int fr = lane / 4, fc = 2 * (lane % 4);
  const int wrow = row0 + warp * 16;
  const int pos[2] = {prefix + wrow + fr, prefix + wrow + fr + 8};  // positions of my two rows
  const int32_t* seq_blocks = a.block_table + (int64_t)seq * a.max_blocks_per_seq;
  // 8 dims at c of key j's K or V row. Keys past kv_end are zeros, never garbage: a NaN there
  // would survive p = 0 in the mma.
  auto load_row = [&](const bf16* cache, int j, int c) {
    if (j >= kv_end) return make_uint4(0, 0, 0, 0);
    return *reinterpret_cast<const uint4*>(cache + kv_offset(a, seq_blocks, j, kvh) + c);
  };

  // Q stays in registers as A fragments for the whole key loop; rows past q_len are zeros.
  uint32_t qf[D / 16][4];
  const bf16* q_head = a.q + (int64_t)q0 * a.q_stride + (int64_t)h * D;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int r = wrow + fr + 8 * (i & 1);
      qf[kk][i] = r < q_len ? word_at(q_head + r * a.q_stride + kk * 16 + fc + 8 * (i >> 1)) : 0u;
    }

  float o[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // l: this thread's columns only

  for (int k0 = 0; k0 < kv_end; k0 += kBlockK) {
    __syncthreads();  // every warp is done with the previous tile
    // K tile, dims fastest: each warp reads whole 16-byte pieces of consecutive key rows.
    for (int i = threadIdx.x; i < kBlockK * (D / 8); i += kThreads) {
      const int key = i / (D / 8), c = (i % (D / 8)) * 8;
      *reinterpret_cast<uint4*>(&s_k[key][c]) = load_row(a.k_cache, k0 + key, c);
    }
    // V tile, transposed: a thread takes keys 2p and 2p+1 of one 8-dim piece and writes each
    // dim's key pair as one word (consecutive p: consecutive words, no bank conflicts).
    for (int i = threadIdx.x; i < (kBlockK / 2) * (D / 8); i += kThreads) {
      const int pair = i % (kBlockK / 2), c = (i / (kBlockK / 2)) * 8, j = k0 + 2 * pair;
      const uint4 v0 = load_row(a.v_cache, j, c), v1 = load_row(a.v_cache, j + 1, c);
      const uint32_t w0[4] = {v0.x, v0.y, v0.z, v0.w}, w1[4] = {v1.x, v1.y, v1.z, v1.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {  // low halves: dim c + 2e; high halves: dim c + 2e + 1
        uint32_t* lo = reinterpret_cast<uint32_t*>(&s_vt[c + 2 * e][2 * pair]);
        uint32_t* hi = reinterpret_cast<uint32_t*>(&s_vt[c + 2 * e + 1][2 * pair]);
        *lo = __byte_perm(w0[e], w1[e], 0x5410);
        *hi = __byte_perm(w0[e], w1[e], 0x7632);
      }
    }
    __syncthreads();

    // S = Q K^T: 16 rows x 64 keys per warp.
    float s[kBlockK / 8][4];
#pragma unroll
    for (int nt = 0; nt < kBlockK / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int nt = 0; nt < kBlockK / 8; ++nt) {
        const bf16* kp = &s_k[nt * 8 + fr][kk * 16 + fc];
        mma_bf16(s[nt], qf[kk], word_at(kp), word_at(kp + 8));
      }

    // Scale into base 2, mask (causal, and keys past kv_end), and take each row's max over the
    // 4 lanes that share it.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < kBlockK / 8; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int key = k0 + nt * 8 + fc + (i & 1);
        const bool visible = key <= pos[i >> 1] && key < kv_end;
        s[nt][i] = visible ? s[nt][i] * a.scale_log2 : -INFINITY;
        mx[i >> 1] = fmaxf(mx[i >> 1], s[nt][i]);
      }
    float base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m[r], mx[r]);
      // A row that has seen no visible key yet keeps m = -inf; exponentiate against 0 then,
      // which avoids inf - inf and still gives p = 0 and alpha = 0.
      base[r] = m_new == -INFINITY ? 0.0f : m_new;
      const float alpha = exp2f(m[r] - base[r]);
      m[r] = m_new;
      l[r] *= alpha;
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) {
        o[dt][2 * r] *= alpha;
        o[dt][2 * r + 1] *= alpha;
      }
    }
#pragma unroll
    for (int nt = 0; nt < kBlockK / 8; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        s[nt][i] = exp2f(s[nt][i] - base[i >> 1]);
        l[i >> 1] += s[nt][i];
      }

    // O += P V, P rounded to bf16 as the A operand.
#pragma unroll
    for (int kk = 0; kk < kBlockK / 16; ++kk) {
      const uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                              pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                              pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) {
        const bf16* vp = &s_vt[dt * 8 + fr][kk * 16 + fc];
        mma_bf16(o[dt], pa, word_at(vp), word_at(vp + 8));
      }
    }
  }

  // Each row's sum is spread over its 4 lanes; add them up, normalize, store bf16 pairs.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    const int row = wrow + fr + 8 * r;
    if (row >= q_len) continue;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
    bf16* dst = a.out + (int64_t)(q0 + row) * a.out_stride + (int64_t)h * D + fc;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt)
      *reinterpret_cast<uint32_t*>(dst + dt * 8) =
          pack_bf16x2(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
  }
}

template <int D>
void launch(const AttnArgs& a, cudaStream_t stream) {
  const dim3 grid(a.num_heads, a.num_seqs, (a.max_q_len + kBlockQ - 1) / kBlockQ);
  prefill_kernel<D><<<grid, kThreads, 0, stream>>>(a);
  check_launch();
}

}  // namespace

void attention_prefill(const AttnArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {  // 16 and 32: the tiny test models
    case 16: launch<16>(a, stream); break;
    case 32: launch<32>(a, stream); break;
    case 64: launch<64>(a, stream); break;
    default: launch<128>(a, stream); break;
  }
}

}  // namespace gpubench
