// rope: optional per-head q/k RMSNorm, rotary embedding of q and k in place, and the write of
// k and v into the paged KV cache. Reference: backend/cpu/rope.cc.
#include <cuda_runtime.h>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/rope.cuh"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

constexpr int kWarps = 4;  // heads per block

struct RopeArgs {
  bf16* q;
  bf16* k;
  const bf16* v;
  int64_t row_stride;
  int num_heads, num_kv_heads, head_dim, block_size;
  const int32_t* positions;
  const int32_t* slots;
  const float* inv_freq;
  float attn_factor;
  const bf16* q_norm;
  const bf16* k_norm;
  float norm_eps;
  bf16* k_cache;
  bf16* v_cache;
};

// Grid: (token, group of kWarps heads); each warp takes one head of the token's tasks: q heads,
// k heads, then v heads (copied only). Within a head, lane i handles the rotate_half pairs
// (i, i + head_dim/2) for W consecutive i at a time, i += 32 W, with their cos/sin. One head per
// warp keeps every warp's chain of loads short: a decode step has a token or a few, and a block
// looping over all 48 heads of a token took ~10 us. At prefill sizes the per-warp setup is what
// costs (a 4096-token call is 200k warps), so it is kept to 32-bit integer math.
template <int W>
__global__ void rope_kv_write_kernel(RopeArgs a) {
  start_dependent_kernel();
  const int t = blockIdx.x, half = a.head_dim / 2;
  const int lane = threadIdx.x & 31;
  const int rotated = a.num_heads + a.num_kv_heads;
  const int h = blockIdx.y * kWarps + (threadIdx.x >> 5);
  if (h >= rotated + a.num_kv_heads) return;
  const int kvh = h - (h < rotated ? a.num_heads : rotated);  // kv head of a k or v task
  // A slot < 0 marks a token whose KV is not stored (padding): rotate, skip the cache write.
  // Otherwise its row for KV head kvh in the [blocks][kv heads][block_size] cache.
  const int slot = a.slots[t];
  bf16* cache_dst = nullptr;
  if (slot >= 0 && h >= a.num_heads) {
    const int block = slot / a.block_size, offset = slot - block * a.block_size;
    const int64_t row = ((int64_t)block * a.num_kv_heads + kvh) * a.block_size + offset;
    cache_dst = (h < rotated ? a.k_cache : a.v_cache) + row * a.head_dim;
  }
  if (h >= rotated) {
    if (cache_dst) {
      const bf16* src = a.v + t * a.row_stride + kvh * a.head_dim;
      for (int u = lane; u < a.head_dim / W; u += 32) {
        float f[W];
        load<W>(src, u, f);
        store<W>(cache_dst, u, f);
      }
    }
    return;
  }
  const bool is_q = h < a.num_heads;
  bf16* x = is_q ? a.q + t * a.row_stride + h * a.head_dim
                 : a.k + t * a.row_stride + kvh * a.head_dim;
  const bf16* norm_w = is_q ? a.q_norm : a.k_norm;
  float inv = 1.0f;
  if (norm_w) {
    float ss = 0.0f;
    for (int u = lane; u < a.head_dim / W; u += 32) {
      float f[W];
      load<W>(x, u, f);
#pragma unroll
      for (int j = 0; j < W; ++j) ss += f[j] * f[j];
    }
    // warp_sum is a full-warp exchange: every read above is done before any write below.
    inv = rsqrtf(warp_sum(ss) / (float)a.head_dim + a.norm_eps);
  }
  const float pos = (float)a.positions[t];
  bf16* x2p = x + half;
  for (int u = lane; u < half / W; u += 32) {  // u: the unit of W pairs
    float x1[W], x2[W];
    load<W>(x, u, x1);
    load<W>(x2p, u, x2);
    if (norm_w) {
      float w1[W], w2[W];
      load<W>(norm_w, u, w1);
      load<W>(norm_w + half, u, w2);
#pragma unroll
      for (int j = 0; j < W; ++j) x1[j] *= inv * w1[j], x2[j] *= inv * w2[j];
    }
    float o1[W], o2[W];
#pragma unroll
    for (int j = 0; j < W; ++j) {
      float c, s;
      rope_cos_sin(pos, a.inv_freq[u * W + j], a.attn_factor, c, s);
      o1[j] = x1[j] * c - x2[j] * s;
      o2[j] = x2[j] * c + x1[j] * s;
    }
    store<W>(x, u, o1);
    store<W>(x2p, u, o2);
    if (cache_dst) {
      store<W>(cache_dst, u, o1);
      store<W>(cache_dst + half, u, o2);
    }
  }
}

}  // namespace

void CudaBackend::rope_kv_write(Tensor q, Tensor k, Tensor v, int64_t row_stride, int num_heads,
                                const int32_t* positions, const int32_t* slots, RopeParams rope,
                                KvLayer kv) {
  const int64_t d = kv.head_dim;
  if (q.dtype != DType::BF16 || k.dtype != DType::BF16 || v.dtype != DType::BF16)
    fail(ErrorCode::InvalidArgument, "rope_kv_write: q, k and v must be bf16");
  check_rope(q, k, v, row_stride, num_heads, kv);
  if (q.rows == 0) return;
  RopeArgs a{static_cast<bf16*>(q.data), static_cast<bf16*>(k.data),
             static_cast<const bf16*>(v.data), row_stride, num_heads, (int)kv.num_kv_heads,
             (int)d, (int)kv.block_size, positions, slots, rope.inv_freq, rope.attn_factor,
             static_cast<const bf16*>(rope.q_norm), static_cast<const bf16*>(rope.k_norm),
             rope.norm_eps, static_cast<bf16*>(kv.k), static_cast<bf16*>(kv.v)};
  const int tasks = num_heads + 2 * (int)kv.num_kv_heads;  // q, k (rotated) and v (copied) heads
  const dim3 grid((unsigned)q.rows, (unsigned)((tasks + kWarps - 1) / kWarps));
  // Pairs of bf16 per access where every row and head start is 4-byte aligned.
  const bool pairs = d % 4 == 0 && row_stride % 2 == 0 && aligned(q.data, 4) &&
                     aligned(k.data, 4) && aligned(v.data, 4);
  if (pairs)
    launch_kernel(pdl_, rope_kv_write_kernel<2>, grid, kWarps * 32, 0, stream_, a);
  else
    launch_kernel(pdl_, rope_kv_write_kernel<1>, grid, kWarps * 32, 0, stream_, a);
  check_launch();
}

}  // namespace gpubench
