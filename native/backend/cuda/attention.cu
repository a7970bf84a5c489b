// attention: validation and dispatch. For the shapes the tensor-core kernels take, max_q_len == 1
// is decode (attention_decode.cu), larger is prefill (attention_prefill.cu); every other shape runs
// the general kernel (attention_general.cu). Reference: backend/cpu/attention.cc.
#include <cmath>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

int log2_exact(int64_t v) {
  int s = 0;
  while ((int64_t(1) << s) < v) ++s;
  return (int64_t(1) << s) == v ? s : -1;
}

}  // namespace

void CudaBackend::attention(Tensor out, Tensor q, int64_t row_stride, int num_heads, KvLayer kv,
                            const AttnMeta& meta, float scale) {
  const int64_t d = kv.head_dim;
  if (out.dtype != DType::BF16 || q.dtype != DType::BF16) invalid("attention", "q and out must be bf16");
  check_attention(out, q, row_stride, num_heads, kv);
  const int block_shift = log2_exact(kv.block_size);
  // The tensor-core kernels take head_dim 16, 32, 64 or 128 and a power-of-two block size; they
  // copy q (prefill) and K/V rows in 16-byte pieces, read q in 4-byte pairs (decode) and write out
  // in 4-byte pairs. Every other shape takes the general kernel.
  const bool fast = (d == 16 || d == 32 || d == 64 || d == 128) && block_shift >= 0 &&
                    aligned16(q.data) && row_stride % 8 == 0 && aligned16(kv.k) && aligned16(kv.v) &&
                    aligned(out.data, 4);
  note_path("attention", !fast);
  if (meta.num_seqs == 0 || meta.max_q_len == 0) return;
  if (!fast) {
    GeneralAttnArgs g{};
    g.out = static_cast<bf16*>(out.data);
    g.out_row_stride = out.cols;
    g.out_head_stride = d;
    g.q1 = static_cast<const bf16*>(q.data);
    g.q1_row_stride = row_stride;
    g.q1_head_stride = d;
    g.q2 = g.q1;  // q2_dim 0: never read
    g.q1_dim = (int)d;
    g.v_dim = (int)d;
    g.k1 = g.k2 = static_cast<const bf16*>(kv.k);
    g.v = static_cast<const bf16*>(kv.v);
    g.k1_row_stride = g.k2_row_stride = g.v_row_stride = d;
    g.num_heads = num_heads;
    g.kv_heads = (int)kv.num_kv_heads;
    g.group = num_heads / (int)kv.num_kv_heads;
    set_step(g, meta, true, (int)kv.block_size);
    g.scale = scale;
    attention_general(g, stream_);
    return;
  }

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
  set_step(a, meta, true);
  a.scale_log2 = scale * (float)M_LOG2E;
  if (meta.max_q_len == 1)
    attention_decode(a, attn_scratch_, kAttnScratchBytes, num_sms_, stream_, pdl_);
  else if (wgmma_ && d == 128)
    attention_prefill_sm90(a, stream_);
  else
    attention_prefill(a, stream_);
}

}  // namespace gpubench
