// mla: DeepSeek's multi-head latent attention in absorbed form (backend.h describes the math): the
// per-head batched matmul in and out of the latent space, and the rotary + latent-cache write. The
// attention itself is in mla_attention.cu.
// Reference: backend/cpu/mla.cc.
//
// matmul_heads is one cuBLASLt strided-batched GEMM (gemm() in matmul.cu, with matmul's plan cache
// and candidate timing), batch = heads: a head's slices are a matrix whose leading dimension is
// row_stride, and consecutive heads sit head_stride apart, so the strided views attention_mla.cc
// passes (q_nope inside q, W_UK^T and W_UV inside kv_b_proj, q_latent and the output) are read and
// written in place, with tensor cores at prefill sizes and fp32 accumulation.
//
// mla_rope_kv_write has rope.cu's shape: one block per (token, group of heads), one warp per task
// (a head's q_pe, or the token's latent RMSNorm + cache write), cos/sin from rope.cuh.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/rope.cuh"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

// ---- mla_rope_kv_write ----

constexpr int kRopeWarps = 4;  // tasks per block

struct MlaRopeArgs {
  bf16* q_pe;
  int64_t q_row_stride, q_head_stride;
  int heads, latent, rope;  // H, L, R; kv_a and cache rows are L + R wide
  const bf16* kv_a;
  const int32_t* positions;
  const int32_t* slots;
  const float* inv_freq;
  float attn_factor;
  const bf16* k_norm;  // [L] or null
  float norm_eps;
  bf16* cache;  // [num_blocks * block_size][L + R]: one KV head, so slot s is row s
};

// Grid: (token, group of kRopeWarps tasks). Task 0 is the token's cache row, task 1 + h is head
// h's q_pe. Lane i turns the interleaved pairs (x[2i], x[2i+1]), i += 32.
__global__ void mla_rope_kv_write_kernel(MlaRopeArgs a) {
  start_dependent_kernel();
  const int t = blockIdx.x, pairs = a.rope / 2;
  const float pos = (float)a.positions[t];
  const int task = blockIdx.y * kRopeWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (task > a.heads) return;
  if (task > 0) {
    bf16* x = a.q_pe + t * a.q_row_stride + (int64_t)(task - 1) * a.q_head_stride;
    for (int i = lane; i < pairs; i += 32) {
      const float x0 = __bfloat162float(x[2 * i]), x1 = __bfloat162float(x[2 * i + 1]);
      float c, s;
      rope_cos_sin(pos, a.inv_freq[i], a.attn_factor, c, s);
      x[2 * i] = __float2bfloat16_rn(x0 * c - x1 * s);
      x[2 * i + 1] = __float2bfloat16_rn(x1 * c + x0 * s);
    }
    return;
  }
  const int slot = a.slots[t];
  if (slot < 0) return;  // a token whose KV is not stored (padding)
  const int width = a.latent + a.rope;
  const bf16* src = a.kv_a + (int64_t)t * width;
  bf16* dst = a.cache + (int64_t)slot * width;
  float inv = 1.0f;
  if (a.k_norm) {
    float ss = 0.0f;
    for (int i = lane; i < a.latent; i += 32) {
      const float f = __bfloat162float(src[i]);
      ss += f * f;
    }
    inv = rsqrtf(warp_sum(ss) / (float)a.latent + a.norm_eps);
  }
  for (int i = lane; i < a.latent; i += 32) {
    const float f = __bfloat162float(src[i]);
    dst[i] = a.k_norm ? __float2bfloat16_rn(f * inv * __bfloat162float(a.k_norm[i])) : src[i];
  }
  for (int i = lane; i < pairs; i += 32) {
    const float x0 = __bfloat162float(src[a.latent + 2 * i]),
                x1 = __bfloat162float(src[a.latent + 2 * i + 1]);
    float c, s;
    rope_cos_sin(pos, a.inv_freq[i], a.attn_factor, c, s);
    dst[a.latent + 2 * i] = __float2bfloat16_rn(x0 * c - x1 * s);
    dst[a.latent + 2 * i + 1] = __float2bfloat16_rn(x1 * c + x0 * s);
  }
}

}  // namespace

void CudaBackend::matmul_heads(HeadSlices out, HeadSlices x, HeadSlices w, bool transpose_w) {
  check_matmul_heads(out, x, w, transpose_w, DType::BF16, "cuda");
  const int64_t T = x.rows, H = x.heads, K = x.cols, N = out.cols;
  if (T == 0) return;

  gemm(GemmArgs{out.data, x.data, w.data, DType::BF16, nullptr, T, N, K, H, transpose_w,
                out.row_stride, x.row_stride, w.row_stride, out.head_stride, x.head_stride,
                w.head_stride, "matmul_heads"});
}

void CudaBackend::mla_rope_kv_write(HeadSlices q_pe, Tensor kv_a, const int32_t* positions,
                                    const int32_t* slots, RopeParams rope, KvLayer kv) {
  const char* op = "mla_rope_kv_write";
  check_head_slices(op, "q_pe", q_pe, true, DType::BF16, "cuda");
  const int64_t R = q_pe.cols, D = kv.head_dim, L = D - R, T = q_pe.rows;
  if (R % 2 != 0) invalid(op, "rope dim ", R, " is odd");
  check_mla_cache(op, kv, R);
  if (kv_a.dtype != DType::BF16 || kv_a.rows != T || kv_a.cols != D)
    invalid(op, "kv_a is " + std::string(dtype_name(kv_a.dtype)) + " [" +
                    std::to_string(kv_a.rows) + ", " + std::to_string(kv_a.cols) +
                    "], expected bf16 [" + std::to_string(T) + ", " + std::to_string(D) + "]");
  if (rope.q_norm) invalid(op, "q_norm is set; MLA normalizes only the latent (k_norm)");
  if (T == 0) return;
  const MlaRopeArgs a{static_cast<bf16*>(q_pe.data), q_pe.row_stride, q_pe.head_stride,
                      (int)q_pe.heads, (int)L, (int)R, static_cast<const bf16*>(kv_a.data),
                      positions, slots, rope.inv_freq, rope.attn_factor,
                      static_cast<const bf16*>(rope.k_norm), rope.norm_eps,
                      static_cast<bf16*>(kv.k)};
  const int tasks = (int)q_pe.heads + 1;
  const dim3 grid((unsigned)T, (unsigned)((tasks + kRopeWarps - 1) / kRopeWarps));
  launch_kernel(pdl_, mla_rope_kv_write_kernel, grid, kRopeWarps * 32, 0, stream_, a);
  check_launch();
}

}  // namespace gpubench
