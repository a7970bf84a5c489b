// mla: DeepSeek's multi-head latent attention in absorbed form (backend.h describes the math): the
// per-head batched matmul that maps q_nope into the latent space and the attention output back out
// of it, the rotary + latent-cache write, and causal attention over the [c | k_pe] cache, in fp32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

namespace {

// Turns each interleaved pair (x[2i], x[2i+1]) of x[0, rope_dim) by the angle whose cos and sin
// are cs[2i], cs[2i+1]: DeepSeek-V2's complex multiply x * (cos + i sin).
void rotate_pairs(float* x, const float* cs, int64_t rope_dim) {
  for (int64_t i = 0; i < rope_dim; i += 2) {
    float x0 = x[i], x1 = x[i + 1], c = cs[i], s = cs[i + 1];
    x[i] = x0 * c - x1 * s;
    x[i + 1] = x1 * c + x0 * s;
  }
}

}  // namespace

void CpuBackend::matmul_heads(HeadSlices out, HeadSlices x, HeadSlices w, bool transpose_w) {
  check_matmul_heads(out, x, w, transpose_w, DType::F32, "cpu");
  const int64_t T = x.rows, H = x.heads, K = x.cols, N = out.cols;
  // Head-major items, so that consecutive items of a chunk reuse one head's weights from cache.
  pool_.parallel_for(H * T, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      int64_t h = item / T, t = item % T;
      const float* xs = head_slice(x, t, h);
      float* o = head_slice(out, t, h);
      if (!transpose_w) {
        for (int64_t n = 0; n < N; ++n) o[n] = dot(xs, head_slice(w, n, h), K);
        continue;
      }
      // w rows are along N: accumulate x[k] * row k, contiguous in n.
      std::fill(o, o + N, 0.0f);
      for (int64_t k = 0; k < K; ++k) {
        const float* wr = head_slice(w, k, h);
        float a = xs[k];
        for (int64_t n = 0; n < N; ++n) o[n] += a * wr[n];
      }
    }
  }, grain_for(2 * N * K));
}

void CpuBackend::mla_rope_kv_write(HeadSlices q_pe, Tensor kv_a, const int32_t* positions,
                                   const int32_t* slots, RopeParams rope, KvLayer kv) {
  const char* op = "mla_rope_kv_write";
  check_head_slices(op, "q_pe", q_pe, true, DType::F32, "cpu");
  check_f32(op, "kv_a", kv_a);
  int64_t R = q_pe.cols, D = kv.head_dim, L = D - R, T = q_pe.rows;
  if (R % 2 != 0) invalid(op, "rope dim ", R, " is odd");
  check_mla_cache(op, kv, R);
  check_shape(op, "kv_a", kv_a, T, D);
  if (rope.q_norm) invalid(op, "q_norm is set; MLA normalizes only the latent (k_norm)");
  int64_t num_slots = kv.num_blocks * kv.block_size;
  for (int64_t t = 0; t < T; ++t) {
    if (positions[t] < 0) invalid(op, "position ", positions[t], " of token ", t, " is negative");
    if (slots[t] < 0 || slots[t] >= num_slots)
      invalid(op, "slot ", slots[t], " of token ", t, " outside [0, ", num_slots, ")");
  }
  const float* norm = static_cast<const float*>(rope.k_norm);
  pool_.parallel_for(T, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> cs;  // cos, sin of each pair for this token
    cs.resize(R);
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t i = 0; i < R / 2; ++i) {
        // Hugging Face: freqs = inv_freq * position in fp32, then cos/sin times attention_scaling.
        float angle = (float)positions[t] * rope.inv_freq[i];
        cs[2 * i] = std::cos(angle) * rope.attn_factor;
        cs[2 * i + 1] = std::sin(angle) * rope.attn_factor;
      }
      for (int64_t h = 0; h < q_pe.heads; ++h) rotate_pairs(head_slice(q_pe, t, h), cs.data(), R);

      const float* src = static_cast<const float*>(kv_a.data) + t * D;
      float* row = static_cast<float*>(kv.k) + (int64_t)slots[t] * D;  // one head: slot-major rows
      float inv = norm ? rms_inv(src, L, rope.norm_eps) : 1.0f;
      for (int64_t i = 0; i < L; ++i) row[i] = norm ? src[i] * inv * norm[i] : src[i];
      std::memcpy(row + L, src + L, (size_t)R * sizeof(float));
      rotate_pairs(row + L, cs.data(), R);
    }
  }, grain_for(4 * (q_pe.heads * R + D)));
}

void CpuBackend::mla_attention(Tensor out, Tensor q_latent, HeadSlices q_pe, KvLayer kv,
                               const AttnMeta& meta, float scale) {
  const char* op = "mla_attention";
  check_f32(op, "out", out);
  check_f32(op, "q_latent", q_latent);
  check_head_slices(op, "q_pe", q_pe, false, DType::F32, "cpu");
  int64_t H = q_pe.heads, R = q_pe.cols, D = kv.head_dim, L = D - R;
  check_mla_cache(op, kv, R);
  check_shape(op, "q_latent", q_latent, q_latent.rows, H * L);
  check_shape(op, "out", out, out.rows, H * L);
  check_attn_meta(op, meta, kv, std::min({q_latent.rows, out.rows, q_pe.rows}));
  int64_t bs = kv.block_size;
  int64_t t0 = meta.q_start[0], rows = meta.q_start[meta.num_seqs] - t0;
  const float* cache = static_cast<const float*>(kv.k);
  pool_.parallel_for(rows * H, [&](int64_t begin, int64_t end) {
    // Scores of one row: host scratch that only grows, kept per thread across calls.
    thread_local std::vector<float> p;
    if ((int64_t)p.size() < meta.max_ctx_len) p.resize(meta.max_ctx_len);
    for (int64_t item = begin; item < end; ++item) {
      int64_t t = t0 + item / H, h = item % H;
      const int32_t* seq_end = std::upper_bound(meta.q_start, meta.q_start + meta.num_seqs + 1, t);
      int s = (int)(seq_end - meta.q_start) - 1;
      int64_t q_len = meta.q_start[s + 1] - meta.q_start[s];
      int64_t n = meta.ctx_len[s] - q_len + (t - meta.q_start[s]) + 1;  // positions attended
      const int32_t* table = meta.block_table + (int64_t)s * meta.max_blocks_per_seq;
      auto row = [&](int64_t j) { return cache + ((int64_t)table[j / bs] * bs + j % bs) * D; };
      const float* ql = static_cast<const float*>(q_latent.data) + t * q_latent.cols + h * L;
      const float* qp = head_slice(q_pe, t, h);
      float* o = static_cast<float*>(out.data) + t * out.cols + h * L;

      for (int64_t j = 0; j < n; ++j) {
        const float* r = row(j);
        p[j] = (dot(ql, r, L) + dot(qp, r + L, R)) * scale;
      }
      softmax_in_place(p.data(), n);
      // The values are the latents themselves: the first L elements of each cache row.
      std::fill(o, o + L, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const float* c = row(j);
        for (int64_t d = 0; d < L; ++d) o[d] += p[j] * c[d];
      }
    }
  }, grain_for(4 * meta.max_ctx_len * D));
}

}  // namespace gpubench
