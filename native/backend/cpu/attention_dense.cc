// attention_dense: causal attention over keys and values held in the step's own rows, with a qk head
// dim of its own (MLA's decompressed form, backend.h), in fp32 as Hugging Face's eager attention
// computes it: scores over [k | k_rope], max-subtracted softmax, the probability-weighted v rows.
#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

namespace {

// Every sequence within the rows of the views, and without a cached prefix.
void check_dense_meta(const AttnMeta& m, int64_t rows) {
  const char* op = "attention_dense";
  if (m.num_seqs < 0 || m.q_start[0] < 0)
    invalid(op, "num_seqs ", m.num_seqs, " or q_start[0] ", m.q_start[0], " is negative");
  if (m.q_start[m.num_seqs] > rows)
    invalid(op, "q_start[num_seqs] ", m.q_start[m.num_seqs], " exceeds the ", rows, " rows of the views");
  for (int s = 0; s < m.num_seqs; ++s) {
    const int q_len = m.q_start[s + 1] - m.q_start[s];
    if (q_len < 0 || q_len > m.max_q_len)
      invalid(op, "sequence ", s, ": q_len ", q_len, " outside [0, max_q_len ", m.max_q_len, "]");
    if (m.ctx_len[s] != q_len)
      invalid(op, "sequence ", s, ": ctx_len ", m.ctx_len[s], " is not its q_len ", q_len,
              " (a cached prefix is not in the step's rows)");
  }
}

}  // namespace

void CpuBackend::attention_dense(HeadSlices out, HeadSlices q, HeadSlices k, HeadSlices k_rope, HeadSlices v,
                                 const AttnMeta& meta, float scale) {
  check_attention_dense(out, q, k, k_rope, v, DType::F32, "cpu");
  check_dense_meta(meta, q.rows);
  const int64_t H = q.heads, DK = k.cols, DR = k_rope.cols, DV = v.cols;
  const int64_t t0 = meta.q_start[0], rows = meta.q_start[meta.num_seqs] - t0;
  pool_.parallel_for(rows * H, [&](int64_t begin, int64_t end) {
    // Scores of one row: host scratch that only grows, kept per thread across calls.
    thread_local std::vector<float> p;
    if ((int64_t)p.size() < meta.max_q_len) p.resize(meta.max_q_len);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = t0 + item / H, h = item % H;
      const int32_t* seq_end = std::upper_bound(meta.q_start, meta.q_start + meta.num_seqs + 1, t);
      const int64_t first = *(seq_end - 1), n = t - first + 1;  // the sequence's rows up to t
      const float* qh = head_slice(q, t, h);
      for (int64_t j = 0; j < n; ++j)
        p[j] = (dot(qh, head_slice(k, first + j, h), DK) + dot(qh + DK, head_slice(k_rope, first + j, h), DR)) * scale;
      softmax_in_place(p.data(), n);
      float* o = head_slice(out, t, h);
      std::fill(o, o + DV, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const float* vr = head_slice(v, first + j, h);
        for (int64_t d = 0; d < DV; ++d) o[d] += p[j] * vr[d];
      }
    }
  }, grain_for(2 * meta.max_q_len * (DK + DR + DV)));
}

}  // namespace gpubench
