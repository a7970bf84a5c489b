// attention: causal softmax(q k^T * scale) v for every (query row, head) over the paged KV cache,
// with GQA, in fp32 as Hugging Face's eager attention computes it: scores, max-subtracted softmax,
// then the probability-weighted sum of v rows.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

namespace {

void check_f32_attention(const Tensor& out, const Tensor& q, int64_t row_stride, int num_heads,
                         const KvLayer& kv, const AttnMeta& m) {
  check_f32("attention", "out", out);
  check_f32("attention", "q", q);
  check_attention(out, q, row_stride, num_heads, kv);
  check_attn_meta("attention", m, kv, std::min(q.rows, out.rows));
}

}  // namespace

// Every query row, context and block id of a step within its bounds; rows = the rows of q and out.
void check_attn_meta(const char* op, const AttnMeta& m, const KvLayer& kv, int64_t rows) {
  if (m.num_seqs < 0 || m.q_start[0] < 0)
    invalid(op, "num_seqs ", m.num_seqs, " or q_start[0] ", m.q_start[0], " is negative");
  if (m.q_start[m.num_seqs] > rows)
    invalid(op, "q_start[num_seqs] ", m.q_start[m.num_seqs], " exceeds the ", rows, " rows of q and out");
  for (int s = 0; s < m.num_seqs; ++s) {
    int q_len = m.q_start[s + 1] - m.q_start[s], ctx = m.ctx_len[s];
    if (q_len < 0 || q_len > m.max_q_len)
      invalid(op, "sequence ", s, ": q_len ", q_len, " outside [0, max_q_len ", m.max_q_len, "]");
    if (ctx < q_len || ctx > m.max_ctx_len)
      invalid(op, "sequence ", s, ": ctx_len ", ctx, " outside [q_len ", q_len, ", max_ctx_len ",
              m.max_ctx_len, "]");
    int64_t blocks = (ctx + kv.block_size - 1) / kv.block_size;
    if (blocks > m.max_blocks_per_seq)
      invalid(op, "sequence ", s, ": ctx_len ", ctx, " needs ", blocks,
              " blocks > max_blocks_per_seq ", m.max_blocks_per_seq);
    for (int64_t b = 0; b < blocks; ++b) {
      int32_t id = m.block_table[(int64_t)s * m.max_blocks_per_seq + b];
      if (id < 0 || id >= kv.num_blocks)
        invalid(op, "sequence ", s, ": block id ", id, " outside [0, ", kv.num_blocks, ")");
    }
  }
}

void CpuBackend::attention(Tensor out, Tensor q, int64_t row_stride, int num_heads, KvLayer kv,
                           const AttnMeta& meta, float scale) {
  check_f32_attention(out, q, row_stride, num_heads, kv, meta);
  int64_t hd = kv.head_dim, bs = kv.block_size, hkv = kv.num_kv_heads;
  int group = num_heads / (int)hkv;
  int64_t t0 = meta.q_start[0], rows = meta.q_start[meta.num_seqs] - t0;
  const float* kc = static_cast<const float*>(kv.k);
  const float* vc = static_cast<const float*>(kv.v);
  pool_.parallel_for(rows * num_heads, [&](int64_t begin, int64_t end) {
    // Scores of one row: host scratch that only grows, kept per thread across calls.
    thread_local std::vector<float> p;
    if ((int64_t)p.size() < meta.max_ctx_len) p.resize(meta.max_ctx_len);
    for (int64_t item = begin; item < end; ++item) {
      int64_t t = t0 + item / num_heads;
      int h = (int)(item % num_heads);
      const int32_t* seq_end = std::upper_bound(meta.q_start, meta.q_start + meta.num_seqs + 1, t);
      int s = (int)(seq_end - meta.q_start) - 1;
      int64_t q_len = meta.q_start[s + 1] - meta.q_start[s];
      int64_t n = meta.ctx_len[s] - q_len + (t - meta.q_start[s]) + 1;  // positions attended
      const int32_t* table = meta.block_table + (int64_t)s * meta.max_blocks_per_seq;
      int64_t kvh = h / group;
      auto row = [&](int64_t j) { return ((table[j / bs] * hkv + kvh) * bs + j % bs) * hd; };
      const float* qh = static_cast<const float*>(q.data) + t * row_stride + h * hd;
      float* o = static_cast<float*>(out.data) + t * out.cols + h * hd;

      for (int64_t j = 0; j < n; ++j) p[j] = dot(qh, kc + row(j), hd) * scale;
      softmax_in_place(p.data(), n);
      std::fill(o, o + hd, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const float* vr = vc + row(j);
        for (int64_t d = 0; d < hd; ++d) o[d] += p[j] * vr[d];
      }
    }
  }, grain_for(4 * meta.max_ctx_len * hd));
}

}  // namespace gpubench
