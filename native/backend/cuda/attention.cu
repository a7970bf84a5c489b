// attention: validation and dispatch. max_q_len == 1 is decode (attention_decode.cu), larger is
// prefill (attention_prefill.cu). Reference: backend/cpu/attention.cc.
#include <cmath>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/cuda_backend.h"

namespace gpubench {

namespace {

void invalid(const std::string& what) { fail(ErrorCode::InvalidArgument, "attention: " + what); }

int log2_exact(int64_t v) {
  int s = 0;
  while ((int64_t(1) << s) < v) ++s;
  return (int64_t(1) << s) == v ? s : -1;
}

}  // namespace

void CudaBackend::attention(Tensor out, Tensor q, int64_t row_stride, int num_heads, KvLayer kv,
                            const AttnMeta& meta, float scale) {
  const int64_t d = kv.head_dim;
  if (d != 16 && d != 32 && d != 64 && d != 128)
    invalid("head_dim " + std::to_string(d) + " is not supported (16, 32, 64 or 128)");
  if (out.dtype != DType::BF16 || q.dtype != DType::BF16) invalid("q and out must be bf16");
  if (kv.num_kv_heads <= 0 || num_heads % kv.num_kv_heads != 0)
    invalid("num_heads must be a multiple of num_kv_heads");
  if (q.cols != num_heads * d || out.cols != num_heads * d)
    invalid("q and out must have num_heads * head_dim columns");
  const int block_shift = log2_exact(kv.block_size);
  if (block_shift < 0) invalid("block_size must be a power of two");
  // The kernels copy q (prefill) and K/V rows in 16-byte pieces, read q in 4-byte pairs (decode)
  // and write out in 4-byte pairs; views of a fused qkv buffer keep these alignments.
  if (!aligned16(q.data) || row_stride % 8 != 0 || !aligned16(kv.k) || !aligned16(kv.v) ||
      !aligned(out.data, 4))
    invalid("q (with its row stride) and the KV cache must be 16-byte aligned");
  if (meta.num_seqs == 0 || meta.max_q_len == 0) return;

  AttnArgs a{};
  a.out = static_cast<bf16*>(out.data);
  a.out_stride = out.cols;
  a.q = static_cast<const bf16*>(q.data);
  a.q_stride = row_stride;
  a.k_cache = static_cast<const bf16*>(kv.k);
  a.v_cache = static_cast<const bf16*>(kv.v);
  a.num_heads = num_heads;
  a.num_kv_heads = (int)kv.num_kv_heads;
  a.head_dim = (int)d;
  a.block_shift = block_shift;
  a.num_seqs = meta.num_seqs;
  a.max_q_len = meta.max_q_len;
  a.max_ctx_len = meta.max_ctx_len;
  a.max_blocks_per_seq = meta.max_blocks_per_seq;
  a.q_start = meta.q_start;
  a.ctx_len = meta.ctx_len;
  a.block_table = meta.block_table;
  a.scale_log2 = scale * (float)M_LOG2E;
  if (meta.max_q_len == 1)
    attention_decode(a, attn_scratch_, kAttnScratchBytes, num_sms_, stream_);
  else if (wgmma_ && d == 128)
    attention_prefill_sm90(a, stream_);
  else
    attention_prefill(a, stream_);
}

}  // namespace gpubench
