// rope: optional per-head q/k RMSNorm (qwen3), rotary embedding in place (Hugging Face's
// rotate_half form, fp32 angles), then the step's k and v rows into the paged KV cache.
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

namespace {

void norm_heads(float* x, int heads, int64_t head_dim, const float* weight, float eps) {
  for (int h = 0; h < heads; ++h) {
    float* xh = x + h * head_dim;
    float inv = rms_inv(xh, head_dim, eps);
    for (int64_t i = 0; i < head_dim; ++i) xh[i] = xh[i] * inv * weight[i];
  }
}

// Pair i of every head is (x[i], x[i + half]) rotated by the same angle, so cos and sin are
// computed once per pair and token.
void rotate_heads(float* x, int heads, int64_t head_dim, float c, float s, int64_t i) {
  int64_t half = head_dim / 2;
  for (int h = 0; h < heads; ++h) {
    float* xh = x + h * head_dim;
    float x1 = xh[i], x2 = xh[i + half];
    xh[i] = x1 * c - x2 * s;
    xh[i + half] = x2 * c + x1 * s;
  }
}

void check_f32_rope(const Tensor& q, const Tensor& k, const Tensor& v, int64_t row_stride,
                    int num_heads, const int32_t* positions, const int32_t* slots, const KvLayer& kv) {
  const char* op = "rope_kv_write";
  check_f32(op, "q", q);
  check_f32(op, "k", k);
  check_f32(op, "v", v);
  check_rope(q, k, v, row_stride, num_heads, kv);
  int64_t num_slots = kv.num_blocks * kv.block_size;
  for (int64_t t = 0; t < q.rows; ++t) {
    if (positions[t] < 0) invalid(op, "position ", positions[t], " of token ", t, " is negative");
    if (slots[t] < 0 || slots[t] >= num_slots)
      invalid(op, "slot ", slots[t], " of token ", t, " outside [0, ", num_slots, ")");
  }
}

}  // namespace

void CpuBackend::rope_kv_write(Tensor q, Tensor k, Tensor v, int64_t row_stride, int num_heads,
                               const int32_t* positions, const int32_t* slots, RopeParams rope,
                               KvLayer kv) {
  check_f32_rope(q, k, v, row_stride, num_heads, positions, slots, kv);
  int64_t hd = kv.head_dim, half = hd / 2;
  int hkv = (int)kv.num_kv_heads;
  size_t head_bytes = (size_t)hd * sizeof(float);
  const float* q_norm = static_cast<const float*>(rope.q_norm);
  const float* k_norm = static_cast<const float*>(rope.k_norm);
  pool_.parallel_for(q.rows, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* qt = static_cast<float*>(q.data) + t * row_stride;
      float* kt = static_cast<float*>(k.data) + t * row_stride;
      const float* vt = static_cast<const float*>(v.data) + t * row_stride;
      if (q_norm) norm_heads(qt, num_heads, hd, q_norm, rope.norm_eps);
      if (k_norm) norm_heads(kt, hkv, hd, k_norm, rope.norm_eps);
      for (int64_t i = 0; i < half; ++i) {
        // Hugging Face: freqs = inv_freq * position in fp32, then cos/sin times attention_scaling.
        float angle = (float)positions[t] * rope.inv_freq[i];
        float c = std::cos(angle) * rope.attn_factor, s = std::sin(angle) * rope.attn_factor;
        rotate_heads(qt, num_heads, hd, c, s, i);
        rotate_heads(kt, hkv, hd, c, s, i);
      }
      int64_t block = slots[t] / kv.block_size, offset = slots[t] % kv.block_size;
      for (int h = 0; h < hkv; ++h) {
        size_t at = (size_t)(((block * hkv + h) * kv.block_size + offset) * hd);
        std::memcpy(static_cast<float*>(kv.k) + at, kt + h * hd, head_bytes);
        std::memcpy(static_cast<float*>(kv.v) + at, vt + h * hd, head_bytes);
      }
    }
  }, grain_for(20 * (num_heads + hkv) * hd));
}

}  // namespace gpubench
