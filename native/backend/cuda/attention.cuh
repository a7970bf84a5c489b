// Shared by attention.cu (validation and dispatch) and the kernels' files: attention_decode.cu
// (max_q_len == 1), attention_prefill.cu (max_q_len > 1) and attention_general.cu (any shape;
// also MLA's, from mla_attention.cu).
#pragma once
#include <cuda_runtime.h>

#include "backend/cuda/common.cuh"

namespace gpubench {

// One attention call with its pointers and shapes resolved; validated by attention.cu.
struct AttnArgs {
  bf16* out;
  int64_t out_stride;  // elements between rows of out
  const bf16* q;
  int64_t q_stride;  // elements between rows of q
  const bf16* k_cache;  // [num_blocks][num_kv_heads][block_size][head_dim]
  const bf16* v_cache;
  int num_heads, num_kv_heads, head_dim;
  int block_shift;  // log2(block_size)
  int num_seqs, max_q_len, max_ctx_len, max_blocks_per_seq;
  const int32_t* q_start;
  const int32_t* ctx_len;
  const int32_t* block_table;
  float scale_log2;  // softmax scale * log2(e): the kernels work in base 2 (exp2f)
};

// The device address of token j's head_dim values for KV head kvh of a sequence's paged cache.
__device__ __forceinline__ int64_t kv_offset(const AttnArgs& a, const int32_t* seq_blocks, int j,
                                             int kvh) {
  const int64_t block = seq_blocks[j >> a.block_shift];
  const int offset = j & ((1 << a.block_shift) - 1);
  const int64_t row = ((block * a.num_kv_heads + kvh) << a.block_shift) + offset;
  return row * a.head_dim;
}

// Split-KV decode; partials go to `scratch` (scratch_bytes long) when the context is split.
void attention_decode(const AttnArgs& a, void* scratch, size_t scratch_bytes, int num_sms,
                      cudaStream_t stream);
// Causal prefill over the paged cache (the step's KV already written there).
void attention_prefill(const AttnArgs& a, cudaStream_t stream);
// The same on Hopper's wgmma (attention_prefill_sm90.cu): head_dim 128, where wgmma_available().
void attention_prefill_sm90(const AttnArgs& a, cudaStream_t stream);

// One call of the general kernel (attention_general.cu), which both GQA attention and MLA use.
// For query row t and head h, with kvh = h / group and cache row j (token j of the sequence's
// paged cache, row ((block * kv_heads + kvh) * block_size + j % block_size) * row_width):
//   score_j = scale * (q1(t,h) . k_row_j[0, q1_dim) + q2(t,h) . k_row_j[key2_offset, +q2_dim))
//   out(t,h) = sum_j softmax_j(score) v_row_j[0, v_dim)
// GQA: q1 = q, q2_dim = 0, v from the v cache. MLA: q1 = q_latent, q2 = q_pe, key2_offset = L,
// kv_heads 1, and the value is the latent itself (v_cache = k_cache, v_dim = L).
struct GeneralAttnArgs {
  bf16* out;
  int64_t out_row_stride;  // out(t,h) at out + t * out_row_stride + h * v_dim
  const bf16* q1;
  int64_t q1_row_stride, q1_head_stride;
  const bf16* q2;
  int64_t q2_row_stride, q2_head_stride;
  int q1_dim, q2_dim, key2_offset, v_dim;
  const bf16* k_cache;
  const bf16* v_cache;
  int num_heads, kv_heads, group, row_width, block_size;
  int num_seqs, max_q_len, max_blocks_per_seq;
  const int32_t* q_start;
  const int32_t* ctx_len;
  const int32_t* block_table;
  float scale;
};
// The dynamic shared memory it needs (fp32 query and accumulator), for the caller's check.
size_t attention_general_smem(const GeneralAttnArgs& a);
void attention_general(const GeneralAttnArgs& a, cudaStream_t stream);

}  // namespace gpubench
