// attention_dense: validation and dispatch. The tensor-core prefill kernels take the step's rows at
// the head dims they are built for (DeepSeek's qk 192 / v 128 and the tiny presets' 48 / 32 on
// mma.sync, attention_prefill.cu; 192 / 128 on Hopper's wgmma, attention_prefill_sm90.cu), with q
// and out laid out head after head and the key parts in 16-byte pieces; every other shape runs the
// general kernel (attention_general.cu).
// Reference: backend/cpu/attention_dense.cc.
#include <cmath>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

// Rows and head slices that start on 16 bytes: the kernels copy them in 16-byte pieces.
bool in_16_bytes(const Backend::HeadSlices& x) {
  return aligned16(x.data) && x.row_stride % 8 == 0 && x.head_stride % 8 == 0;
}

}  // namespace

void CudaBackend::attention_dense(HeadSlices out, HeadSlices q, HeadSlices k, HeadSlices k_rope, HeadSlices v,
                                  const AttnMeta& meta, float scale) {
  const char* op = "attention_dense";
  check_attention_dense(out, q, k, k_rope, v, DType::BF16, "cuda");
  const int qk_dim = (int)q.cols, v_dim = (int)v.cols, heads = (int)q.heads;
  int smem_max = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&smem_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_));
  const bool sm90 = wgmma_ && attention_prefill_sm90_dense_takes(qk_dim, v_dim);
  // q is read at h * qk_dim and out written at h * v_dim in 4-byte pairs; a 16-byte piece of the
  // key lies wholly in k or in k_rope.
  const bool fast = (sm90 || attention_prefill_dense_takes(qk_dim, v_dim, smem_max)) && q.head_stride == qk_dim &&
                    out.head_stride == v_dim && k.cols % 8 == 0 && in_16_bytes(q) && in_16_bytes(k) &&
                    in_16_bytes(k_rope) && in_16_bytes(v) && aligned(out.data, 4) && out.row_stride % 2 == 0;
  note_path(op, !fast);
  if (meta.num_seqs == 0 || meta.max_q_len == 0) return;
  if (!fast) {
    GeneralAttnArgs g{};
    g.out = static_cast<bf16*>(out.data);
    g.out_row_stride = out.row_stride;
    g.out_head_stride = out.head_stride;
    g.q1 = static_cast<const bf16*>(q.data);
    g.q1_row_stride = g.q2_row_stride = q.row_stride;
    g.q1_head_stride = g.q2_head_stride = q.head_stride;
    g.q2 = g.q1 + k.cols;
    g.q1_dim = (int)k.cols;
    g.q2_dim = (int)k_rope.cols;
    g.v_dim = v_dim;
    g.k1 = static_cast<const bf16*>(k.data);
    g.k2 = static_cast<const bf16*>(k_rope.data);
    g.v = static_cast<const bf16*>(v.data);
    g.k1_row_stride = k.row_stride;
    g.k1_head_stride = k.head_stride;
    g.k2_row_stride = k_rope.row_stride;
    g.k2_head_stride = k_rope.head_stride;
    g.v_row_stride = v.row_stride;
    g.v_head_stride = v.head_stride;
    g.num_heads = g.kv_heads = heads;
    g.group = 1;
    set_step(g, meta, false, 0);  // the keys are the step's own rows
    g.scale = scale;
    if (attention_general_smem(g) > (size_t)smem_max)
      invalid(op, "qk head dim ", qk_dim, " and v head dim ", v_dim, " need more shared memory than the ",
              smem_max, " bytes the device has");
    attention_general(g, stream_);
    return;
  }

  AttnArgs a{};
  a.out = static_cast<bf16*>(out.data);
  a.out_stride = out.row_stride;
  a.q = static_cast<const bf16*>(q.data);
  a.q_stride = q.row_stride;
  a.num_heads = a.num_kv_heads = heads;
  a.head_dim = v_dim;
  set_step(a, meta, false);  // the keys are the step's own rows
  a.scale_log2 = scale * (float)M_LOG2E;
  const StepKv kv{static_cast<const bf16*>(k.data), static_cast<const bf16*>(k_rope.data),
                  static_cast<const bf16*>(v.data), k.row_stride, k.head_stride, k_rope.row_stride,
                  k_rope.head_stride, v.row_stride, v.head_stride, (int)k.cols};
  if (sm90)
    attention_prefill_sm90_dense(a, kv, stream_);
  else
    attention_prefill_dense(a, kv, qk_dim, stream_);
}

}  // namespace gpubench
