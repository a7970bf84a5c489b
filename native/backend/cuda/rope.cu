// rope: optional per-head q/k RMSNorm, rotary embedding of q and k in place, and the write of
// k and v into the paged KV cache. Reference: backend/cpu/rope.cc.
#include <cuda_runtime.h>

#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/rope.cuh"

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
// (i, i + head_dim/2), i += 32, with their cos/sin. One head per warp keeps every warp's chain of
// loads short: a decode step has a token or a few, and a block looping over all 48 heads of a
// token took ~10 us.
__global__ void rope_kv_write_kernel(RopeArgs a) {
  const int t = blockIdx.x, half = a.head_dim / 2;
  const float pos = (float)a.positions[t];
  const int slot = a.slots[t];
  // Row of (slot, KV head 0) in the [blocks][kv heads][block_size] cache; -1: no write.
  const int64_t block = slot / a.block_size, offset = slot % a.block_size;
  const int64_t cache_row = slot < 0 ? -1 : block * a.num_kv_heads * a.block_size + offset;
  const int lane = threadIdx.x & 31;
  const int rotated = a.num_heads + a.num_kv_heads;
  const int h = blockIdx.y * kWarps + (threadIdx.x >> 5);
  if (h < rotated + a.num_kv_heads) {
    const int kvh = h - (h < rotated ? a.num_heads : rotated);  // kv head of a k or v task
    // A slot < 0 marks a token whose KV is not stored (padding): rotate, skip the cache write.
    bf16* cache_dst = cache_row < 0 || h < a.num_heads
                          ? nullptr
                          : (h < rotated ? a.k_cache : a.v_cache) +
                                (cache_row + (int64_t)kvh * a.block_size) * a.head_dim;
    if (h >= rotated) {
      if (cache_dst) {
        const bf16* src = a.v + t * a.row_stride + (int64_t)kvh * a.head_dim;
        for (int d = lane; d < a.head_dim; d += 32) cache_dst[d] = src[d];
      }
      return;
    }
    const bool is_q = h < a.num_heads;
    bf16* x = is_q ? a.q + t * a.row_stride + (int64_t)h * a.head_dim
                   : a.k + t * a.row_stride + (int64_t)kvh * a.head_dim;
    const bf16* norm_w = is_q ? a.q_norm : a.k_norm;
    float inv = 1.0f;
    if (norm_w) {
      float ss = 0.0f;
      for (int d = lane; d < a.head_dim; d += 32) {
        const float f = __bfloat162float(x[d]);
        ss += f * f;
      }
      // warp_sum is a full-warp exchange: every read above is done before any write below.
      inv = rsqrtf(warp_sum(ss) / (float)a.head_dim + a.norm_eps);
    }
    for (int i = lane; i < half; i += 32) {
      float x1 = __bfloat162float(x[i]) * inv, x2 = __bfloat162float(x[i + half]) * inv;
      if (norm_w) {
        x1 *= __bfloat162float(norm_w[i]);
        x2 *= __bfloat162float(norm_w[i + half]);
      }
      float c, s;
      rope_cos_sin(pos, a.inv_freq[i], a.attn_factor, c, s);
      const bf16 o1 = __float2bfloat16_rn(x1 * c - x2 * s);
      const bf16 o2 = __float2bfloat16_rn(x2 * c + x1 * s);
      x[i] = o1;
      x[i + half] = o2;
      if (cache_dst) {
        cache_dst[i] = o1;
        cache_dst[i + half] = o2;
      }
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
  if (d <= 0 || d % 2 != 0 || q.cols != num_heads * d || k.cols != kv.num_kv_heads * d ||
      v.cols != kv.num_kv_heads * d || k.rows != q.rows || v.rows != q.rows)
    fail(ErrorCode::InvalidArgument, "rope_kv_write: q, k, v shapes do not match the KV layer");
  if (q.rows == 0) return;
  RopeArgs a{static_cast<bf16*>(q.data), static_cast<bf16*>(k.data),
             static_cast<const bf16*>(v.data), row_stride, num_heads, (int)kv.num_kv_heads,
             (int)d, (int)kv.block_size, positions, slots, rope.inv_freq, rope.attn_factor,
             static_cast<const bf16*>(rope.q_norm), static_cast<const bf16*>(rope.k_norm),
             rope.norm_eps, static_cast<bf16*>(kv.k), static_cast<bf16*>(kv.v)};
  const int tasks = num_heads + 2 * (int)kv.num_kv_heads;  // q, k (rotated) and v (copied) heads
  const dim3 grid((unsigned)q.rows, (unsigned)((tasks + kWarps - 1) / kWarps));
  rope_kv_write_kernel<<<grid, kWarps * 32, 0, stream_>>>(a);
  check_launch();
}

}  // namespace gpubench
