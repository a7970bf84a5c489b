// The general attention path: any head_dim, GQA ratio, block size, alignment, and MLA's latent and
// rope widths. attention.cu, mla_attention.cu and attention_dense.cu send here every shape their
// tensor-core kernels do not take. It mirrors the CPU loops (backend/cpu/attention.cc, mla.cc,
// attention_dense.cc), one CTA per (query
// row, head), with an online softmax over chunks of keys so no context length is too long: plain
// scalar fp32 math, no tensor cores, written to be obviously right rather than fast.
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/check.h"

namespace gpubench {

namespace {

constexpr int kThreads = 128;  // also the keys per chunk: one score per thread

__device__ __forceinline__ float block_max(float v, float* partial) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_max(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? partial[lane] : -INFINITY;
  v = warp_max(v);
  __syncthreads();
  return v;
}

__device__ __forceinline__ float dot_bf16(const float* q, const bf16* k, int n) {
  float s = 0.0f;
  for (int d = 0; d < n; ++d) s += q[d] * __bfloat162float(k[d]);
  return s;
}

// Grid: (num_seqs * max_q_len, num_heads). Dynamic shared memory: the query (q1 | q2) and the
// output accumulator, in fp32. Rows past a sequence's q_len return at once.
__global__ void __launch_bounds__(kThreads) attention_general_kernel(GeneralAttnArgs a) {
  extern __shared__ float smem[];
  float* q = smem;                       // [q1_dim + q2_dim]
  float* acc = q + a.q1_dim + a.q2_dim;  // [v_dim]
  __shared__ float p[kThreads];
  __shared__ int64_t rows[kThreads];  // each key's row (attention.cuh, GeneralAttnArgs)
  __shared__ float partial[32];

  const int s = blockIdx.x / a.max_q_len, i = blockIdx.x % a.max_q_len, h = blockIdx.y;
  const int q_len = a.q_start[s + 1] - a.q_start[s];
  if (i >= q_len) return;
  const int64_t t = a.q_start[s] + i;
  const int n = a.ctx_len[s] - q_len + i + 1;  // positions attended, causal
  const int kvh = h / a.group;
  const int32_t* table = a.block_table ? a.block_table + (int64_t)s * a.max_blocks_per_seq : nullptr;
  const bf16* k1 = a.k1 + kvh * a.k1_head_stride;
  const bf16* k2 = a.k2 + kvh * a.k2_head_stride;
  const bf16* v = a.v + kvh * a.v_head_stride;

  const bf16* q1 = a.q1 + t * a.q1_row_stride + h * a.q1_head_stride;
  const bf16* q2 = a.q2 + t * a.q2_row_stride + h * a.q2_head_stride;
  for (int d = threadIdx.x; d < a.q1_dim; d += kThreads) q[d] = __bfloat162float(q1[d]);
  for (int d = threadIdx.x; d < a.q2_dim; d += kThreads) q[a.q1_dim + d] = __bfloat162float(q2[d]);
  for (int d = threadIdx.x; d < a.v_dim; d += kThreads) acc[d] = 0.0f;
  __syncthreads();

  float m = -INFINITY, l = 0.0f;  // running max and sum of exp, the same in every thread
  for (int c0 = 0; c0 < n; c0 += kThreads) {
    const int j = c0 + threadIdx.x;
    float score = -INFINITY;
    if (j < n) {
      const int64_t row = table ? ((int64_t)table[j / a.block_size] * a.kv_heads + kvh) * a.block_size + j % a.block_size
                                : (int64_t)a.q_start[s] + j;
      rows[threadIdx.x] = row;
      score = (dot_bf16(q, k1 + row * a.k1_row_stride, a.q1_dim) +
               dot_bf16(q + a.q1_dim, k2 + row * a.k2_row_stride, a.q2_dim)) * a.scale;
    }
    const float m_new = fmaxf(m, block_max(score, partial));  // finite: key c0 < n is in the chunk
    const float pj = j < n ? expf(score - m_new) : 0.0f;
    p[threadIdx.x] = pj;
    const float alpha = expf(m - m_new);  // 0 on the first chunk (m = -inf)
    l = l * alpha + block_sum(pj);        // its barriers also publish p and rows
    m = m_new;
    const int count = min(kThreads, n - c0);
    for (int d = threadIdx.x; d < a.v_dim; d += kThreads) {
      float o = acc[d] * alpha;
      for (int jj = 0; jj < count; ++jj) o += p[jj] * __bfloat162float(v[rows[jj] * a.v_row_stride + d]);
      acc[d] = o;
    }
    __syncthreads();  // p and rows are rewritten by the next chunk
  }
  bf16* out = a.out + t * a.out_row_stride + (int64_t)h * a.out_head_stride;
  for (int d = threadIdx.x; d < a.v_dim; d += kThreads) out[d] = __float2bfloat16_rn(acc[d] / l);
}

}  // namespace

size_t attention_general_smem(const GeneralAttnArgs& a) {
  return (size_t)(a.q1_dim + a.q2_dim + a.v_dim) * sizeof(float);
}

void attention_general(const GeneralAttnArgs& a, cudaStream_t stream) {
  if (a.num_seqs == 0 || a.max_q_len == 0) return;
  const size_t smem = attention_general_smem(a);
  CUDA_CHECK(cudaFuncSetAttribute(attention_general_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)smem));
  const dim3 grid((unsigned)((int64_t)a.num_seqs * a.max_q_len), (unsigned)a.num_heads);
  attention_general_kernel<<<grid, kThreads, smem, stream>>>(a);
  check_launch();
}

}  // namespace gpubench
