// Shared by attention.cu and attention_dense.cu (validation and dispatch) and the kernels' files:
// attention_decode.cu (max_q_len == 1), attention_prefill.cu and attention_prefill_sm90.cu
// (max_q_len > 1; also attention_dense's) and attention_general.cu (any shape; also MLA's, from
// mla_attention.cu, and attention_dense's).
#pragma once
#include <cuda_runtime.h>

#include "backend/backend.h"
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

// The step's sequences (meta) in a; paged: their keys in the paged cache (the block table),
// else the step's own rows (attention_dense). set_step(GeneralAttnArgs&) below is its twin.
inline void set_step(AttnArgs& a, const AttnMeta& meta, bool paged) {
  a.num_seqs = meta.num_seqs;
  a.max_q_len = meta.max_q_len;
  a.max_ctx_len = meta.max_ctx_len;
  a.q_start = meta.q_start;
  a.ctx_len = meta.ctx_len;
  a.max_blocks_per_seq = paged ? meta.max_blocks_per_seq : 0;
  a.block_table = paged ? meta.block_table : nullptr;
}

// The offset of token j's head_dim values for KV head kvh of a sequence's paged cache.
__device__ __forceinline__ int64_t paged_offset(const int32_t* seq_blocks, int j, int kvh, int kv_heads,
                                                int block_shift, int head_dim) {
  const int64_t block = seq_blocks[j >> block_shift];
  const int offset = j & ((1 << block_shift) - 1);
  const int64_t row = ((block * kv_heads + kvh) << block_shift) + offset;
  return row * head_dim;
}
__device__ __forceinline__ int64_t kv_offset(const AttnArgs& a, const int32_t* seq_blocks, int j, int kvh) {
  return paged_offset(seq_blocks, j, kvh, a.num_kv_heads, a.block_shift, a.head_dim);
}

// Where the prefill kernels (attention_prefill.cu, attention_prefill_sm90.cu) read the keys and
// values of one (sequence, head), as a cursor: row(j) locates key j, and key(r, c) / value(r, c)
// address dims [c, c + 8) of that row's K and V (c a multiple of 8).
// The paged cache (attention): K and V rows of head_dim, through the block table.
struct PagedKv {
  struct Cursor {
    const bf16* k;
    const bf16* v;
    const int32_t* blocks;  // the sequence's block table
    int kvh, kv_heads, block_shift, dim;
    __device__ __forceinline__ int64_t row(int j) const {
      return paged_offset(blocks, j, kvh, kv_heads, block_shift, dim);
    }
    __device__ __forceinline__ const bf16* key(int64_t r, int c) const { return k + r + c; }
    __device__ __forceinline__ const bf16* value(int64_t r, int c) const { return v + r + c; }
  };
  __device__ __forceinline__ Cursor at(const AttnArgs& a, int seq, int h, int /*q0*/) const {
    return {a.k_cache, a.v_cache, a.block_table + (int64_t)seq * a.max_blocks_per_seq,
            h / (a.num_heads / a.num_kv_heads), a.num_kv_heads, a.block_shift, a.head_dim};
  }
};
// The step's own rows (attention_dense, no cached prefix): key j of the sequence whose rows start
// at q0 is row q0 + j of k (dims [0, k_dim)), of k_rope (dims [k_dim, qk_dim)) and of v.
struct StepKv {
  const bf16* k;
  const bf16* k_rope;
  const bf16* v;
  int64_t k_row, k_head, rope_row, rope_head, v_row, v_head;  // strides in elements
  int k_dim;
  struct Cursor {
    const bf16* k;
    const bf16* k_rope;
    const bf16* v;
    int64_t k_row, rope_row, v_row;
    int k_dim;
    __device__ __forceinline__ int64_t row(int j) const { return j; }
    __device__ __forceinline__ const bf16* key(int64_t r, int c) const {
      return c < k_dim ? k + r * k_row + c : k_rope + r * rope_row + (c - k_dim);
    }
    __device__ __forceinline__ const bf16* value(int64_t r, int c) const { return v + r * v_row + c; }
  };
  __device__ __forceinline__ Cursor at(const AttnArgs&, int /*seq*/, int h, int q0) const {
    return {k + q0 * k_row + h * k_head, k_rope + q0 * rope_row + h * rope_head, v + q0 * v_row + h * v_head,
            k_row, rope_row, v_row, k_dim};
  }
};

// Split-KV decode; partials go to `scratch` (scratch_bytes long) when the context is split; pdl:
// its kernels launch as programmatic dependents (dependent_launch.cuh).
void attention_decode(const AttnArgs& a, void* scratch, size_t scratch_bytes, int num_sms,
                      cudaStream_t stream, bool pdl);
// Causal prefill over the paged cache (the step's KV already written there): head_dim 16, 32, 64
// or 128.
void attention_prefill(const AttnArgs& a, cudaStream_t stream);
// Causal prefill over the step's own rows (attention_dense.cu), qk head dim qk_dim and v head dim
// a.head_dim, for the pairs attention_prefill_dense_takes() on a device with smem_max bytes of
// shared memory per block; a.k_cache, v_cache and block_table are not read.
bool attention_prefill_dense_takes(int qk_dim, int v_dim, int smem_max);
void attention_prefill_dense(const AttnArgs& a, const StepKv& kv, int qk_dim, cudaStream_t stream);
// The same on Hopper's wgmma (attention_prefill_sm90.cu), where wgmma_available(): the paged cache
// at head_dim 128, and the step's rows at qk_dim 192 with v_dim 128.
void attention_prefill_sm90(const AttnArgs& a, cudaStream_t stream);
bool attention_prefill_sm90_dense_takes(int qk_dim, int v_dim);
void attention_prefill_sm90_dense(const AttnArgs& a, const StepKv& kv, cudaStream_t stream);

// One call of the general kernel (attention_general.cu), which GQA attention, MLA and
// attention_dense use. For query row t of sequence s and head h, with kvh = h / group, key j of
// the sequence is row r of the keys and values: paged (block_table set) r = (block * kv_heads +
// kvh) * block_size + j % block_size, the block of token j of the sequence's paged cache (the KV
// head is in the row: the head strides are 0); else (attention_dense) r = q_start[s] + j. Then
//   score_j = scale * (q1(t,h) . k1(r,kvh)[0, q1_dim) + q2(t,h) . k2(r,kvh)[0, q2_dim))
//   out(t,h) = sum_j softmax_j(score) v(r,kvh)[0, v_dim)
// with x(r,kvh) at x + r * x_row_stride + kvh * x_head_stride. GQA: q1 = q, q2_dim = 0, v from
// the v cache. MLA: q1 = q_latent, q2 = q_pe, k2 = the cache + L, kv_heads 1, and the value is the
// latent itself (v = k1, v_dim = L). attention_dense: k1 = k, k2 = k_rope, group 1.
struct GeneralAttnArgs {
  bf16* out;
  int64_t out_row_stride, out_head_stride;  // out(t,h) at out + t * out_row_stride + h * out_head_stride
  const bf16* q1;
  int64_t q1_row_stride, q1_head_stride;
  const bf16* q2;
  int64_t q2_row_stride, q2_head_stride;
  int q1_dim, q2_dim, v_dim;
  const bf16* k1;
  const bf16* k2;
  const bf16* v;
  int64_t k1_row_stride, k1_head_stride, k2_row_stride, k2_head_stride, v_row_stride, v_head_stride;
  int num_heads, kv_heads, group, block_size;
  int num_seqs, max_q_len, max_blocks_per_seq;
  const int32_t* q_start;
  const int32_t* ctx_len;
  const int32_t* block_table;  // null: the keys are the step's own rows
  float scale;
};
// The step's sequences (meta) in g, their keys in a paged cache of block_size tokens per block
// (paged), or the step's own rows (not paged: attention_dense).
inline void set_step(GeneralAttnArgs& g, const AttnMeta& meta, bool paged, int block_size) {
  g.num_seqs = meta.num_seqs;
  g.max_q_len = meta.max_q_len;
  g.q_start = meta.q_start;
  g.ctx_len = meta.ctx_len;
  g.block_size = paged ? block_size : 0;
  g.max_blocks_per_seq = paged ? meta.max_blocks_per_seq : 0;
  g.block_table = paged ? meta.block_table : nullptr;
}
// The dynamic shared memory it needs (fp32 query and accumulator), for the caller's check.
size_t attention_general_smem(const GeneralAttnArgs& a);
void attention_general(const GeneralAttnArgs& a, cudaStream_t stream);

}  // namespace gpubench
