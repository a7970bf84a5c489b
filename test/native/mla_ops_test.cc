// The MLA ops of the CPU backend (matmul_heads, mla_rope_kv_write, mla_attention, attention_dense)
// against naive double-precision computations written here: each op alone, then the absorbed and
// the decompressed pipelines of a layer against NON-absorbed MLA as Hugging Face's
// DeepseekV3Attention computes it (keys and values decompressed per token and head with kv_b_proj,
// V3's de-interleaved rope output, full softmax).
// Odd sizes; decode, prefill after a cached prefix and fresh prefill in one step; block sizes 4 and
// 16; outputs and every cache slot no one wrote poisoned with NaN; 1 and 3 threads. Prints
// PASS/FAIL lines; exits 1 on any failure.
//
// Build and run from the repository root:
// g++ -std=c++17 -O2 -Wall -Inative test/native/mla_ops_test.cc native/backend/cpu/*.cc -lpthread -o /tmp/mla_ops_test && /tmp/mla_ops_test
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "base/rng.h"
#include "check.h"

using namespace gpubench;
using Vec = std::vector<float>;
using Want = std::vector<double>;
using Slices = Backend::HeadSlices;

namespace {

using namespace gpubench_test;  // check, check_close, check_throws, kNaN, random_vec, t32
constexpr double kTol = 2e-5;  // fp32 sums over longer chains than the other ops

// Bit-equal, so NaN poison left in place compares equal to itself.
bool same_bits(const Vec& a, const Vec& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double dot(const double* a, const double* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

Slices view(float* data, int64_t rows, int64_t heads, int64_t cols, int64_t row_stride,
            int64_t head_stride) {
  return Slices{data, DType::F32, rows, heads, cols, row_stride, head_stride};
}

// Both layouts of matmul_heads' w, with padding around every slice of x and out that must stay.
void test_matmul_heads(Backend& be, const std::string& sfx, int T, int H, int K, int N) {
  for (bool tw : {false, true}) {
    int64_t xs = H * (K + 2) + 1, os = H * (N + 3);
    Vec x = random_vec(T * xs, 1), w = random_vec(H * (K * N + 5), 2), out(T * os, 7.0f);
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < H; ++h) std::fill_n(&out[t * os + h * (N + 3)], N, kNaN);
    // w: head h at h*(K*N+5); rows along N (or K with tw), contiguous.
    Slices wv = tw ? view(w.data(), K, H, N, N, K * N + 5) : view(w.data(), N, H, K, K, K * N + 5);
    be.matmul_heads(view(out.data(), T, H, N, os, N + 3), view(x.data(), T, H, K, xs, K + 2), wv, tw);
    Want want(out.begin(), out.end());
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < H; ++h)
        for (int n = 0; n < N; ++n) {
          double s = 0;
          for (int k = 0; k < K; ++k)
            s += (double)x[t * xs + h * (K + 2) + k] *
                 w[h * (K * N + 5) + (tw ? k * N + n : n * K + k)];
          want[t * os + h * (N + 3) + n] = s;
        }
    check_close("matmul_heads" + std::string(tw ? " transpose_w " : " ") + std::to_string(T) + "x" +
                    std::to_string(H) + "x" + std::to_string(K) + "->" + std::to_string(N) + sfx,
                out, want, kTol);
  }
  Vec buf(64, 0.0f);
  check_throws("matmul_heads head count mismatch", ErrorCode::InvalidArgument, [&] {
    be.matmul_heads(view(buf.data(), 2, 2, 3, 6, 3), view(buf.data(), 2, 2, 4, 8, 4),
                    view(buf.data(), 3, 3, 4, 4, 12), false);
  });
}

// One step of one MLA layer over the paged [c | k_pe] cache: per sequence (q_len, ctx_len), the
// first ctx_len - q_len positions cached by an earlier step (written here by the reference), the
// last q_len computed in this step. Blocks are handed out in descending order, one block stays
// unused, and the whole pool starts as NaN.
struct Layer {
  int H, nope, R, L, V, bs, S, T = 0, max_blocks = 0, num_blocks = 1;
  int64_t qs, D;  // q row stride (3 columns of padding, as in a fused buffer), cache row width
  std::vector<std::pair<int, int>> seqs;
  std::vector<int32_t> q_start{0}, ctx_len, table, positions, slots, seq_of;
  std::vector<Vec> raw;  // per sequence: the kv_a_proj output [ctx, L + R] of every position
  Vec q, kv_a, kv_b, norm, inv_freq, cache;
  float attn_factor = 1.25f, eps = 0.1f;  // a large eps, so that dropping it fails

  Layer(std::vector<std::pair<int, int>> s, int heads, int nope_, int rope, int lora, int vd, int block)
      : H(heads), nope(nope_), R(rope), L(lora), V(vd), bs(block), S((int)s.size()),
        qs(H * (nope + R) + 3), D(lora + rope), seqs(std::move(s)) {
    for (auto [q_len, ctx] : seqs) {
      max_blocks = std::max(max_blocks, (ctx + bs - 1) / bs);
      num_blocks += (ctx + bs - 1) / bs;
    }
    table.assign(S * max_blocks, -1);
    int next = num_blocks - 1;
    for (int i = 0; i < S; ++i) {
      auto [q_len, ctx] = seqs[i];
      for (int b = 0; b < (ctx + bs - 1) / bs; ++b) table[i * max_blocks + b] = next--;
      raw.push_back(random_vec(ctx * D, 20 + i));
      for (int j = ctx - q_len; j < ctx; ++j) {
        positions.push_back(j);
        slots.push_back(slot(i, j));
        seq_of.push_back(i);
        kv_a.insert(kv_a.end(), &raw[i][j * D], &raw[i][(j + 1) * D]);
      }
      ctx_len.push_back(ctx);
      q_start.push_back(T += q_len);
    }
    q = random_vec(T * qs, 10);
    kv_b = random_vec(H * (nope + V) * L, 11);
    norm = random_vec(L, 12);
    for (int i = 0; i < R / 2; ++i) inv_freq.push_back((float)std::pow(10000.0, -2.0 * i / R));
    cache.assign((size_t)num_blocks * bs * D, kNaN);
    for (int i = 0; i < S; ++i)
      for (int j = 0; j < seqs[i].second - seqs[i].first; ++j) {
        std::vector<double> r = cache_row(i, j);
        std::copy(r.begin(), r.end(), &cache[slot(i, j) * D]);
      }
  }
  int slot(int s, int j) const { return table[s * max_blocks + j / bs] * bs + j % bs; }
  // cos, sin of pair i at position p, as the op computes the angle: an fp32 product.
  std::pair<double, double> cs(int p, int i) const {
    double a = (float)p * inv_freq[i];
    return {std::cos(a) * attn_factor, std::sin(a) * attn_factor};
  }
  // Interleaved-pair rotation in place (the cache and q_pe layout of the ops).
  void rotate(double* x, int p) const {
    for (int i = 0; i < R / 2; ++i) {
      auto [c, s] = cs(p, i);
      double x0 = x[2 * i], x1 = x[2 * i + 1];
      x[2 * i] = x0 * c - x1 * s;
      x[2 * i + 1] = x1 * c + x0 * s;
    }
  }
  // The latent RMS-normalized with kv_a_layernorm's weight.
  std::vector<double> latent(int s, int j) const {
    const float* x = &raw[s][j * D];
    double ss = 0;
    for (int i = 0; i < L; ++i) ss += (double)x[i] * x[i];
    double inv = 1.0 / std::sqrt(ss / L + eps);
    std::vector<double> c(L);
    for (int i = 0; i < L; ++i) c[i] = x[i] * inv * norm[i];
    return c;
  }
  std::vector<double> cache_row(int s, int j) const {
    std::vector<double> r = latent(s, j);
    r.insert(r.end(), &raw[s][j * D + L], &raw[s][(j + 1) * D]);
    rotate(&r[L], j);
    return r;
  }
  RopeParams rope() { return RopeParams{inv_freq.data(), attn_factor, nullptr, norm.data(), eps}; }
  KvLayer kv() { return KvLayer{cache.data(), nullptr, num_blocks, bs, 1, D}; }
  AttnMeta meta() const {
    int max_q = 0, max_ctx = 0;
    for (auto [q_len, ctx] : seqs) max_q = std::max(max_q, q_len), max_ctx = std::max(max_ctx, ctx);
    return AttnMeta{S, max_q, max_ctx, max_blocks, q_start.data(), ctx_len.data(), table.data()};
  }
  Slices q_nope() { return view(q.data(), T, H, nope, qs, nope + R); }
  Slices q_pe() { return view(q.data() + nope, T, H, R, qs, nope + R); }
  Slices w_uk() { return view(kv_b.data(), nope, H, L, L, (nope + V) * L); }
  Slices w_uv() { return view(kv_b.data() + nope * L, V, H, L, L, (nope + V) * L); }
  float scale() const { return 1.3f / std::sqrt((float)(nope + R)); }  // 1.3: a yarn mscale^2
  std::string label() const {
    return " T" + std::to_string(T) + " L" + std::to_string(L) + " bs" + std::to_string(bs);
  }
};

// Non-absorbed MLA, as Hugging Face computes it, from the raw projections: per head and position,
// k = [W_UK_h c_j | rope(k_pe_j)], v = W_UV_h c_j, q = [q_nope | rope(q_pe)] with V3's
// de-interleaved rope output (q and k permuted alike), softmax over positions 0..p.
Want naive_mla(const Layer& m, const Vec& q_in) {
  auto hf_rope = [&](const float* x, int p) {
    std::vector<double> y(m.R);
    for (int i = 0; i < m.R / 2; ++i) {
      auto [c, s] = m.cs(p, i);
      y[i] = x[2 * i] * c - x[2 * i + 1] * s;
      y[i + m.R / 2] = x[2 * i + 1] * c + x[2 * i] * s;
    }
    return y;
  };
  auto up = [&](const std::vector<double>& c, int row) {  // kv_b_proj row `row` . c
    double s = 0;
    for (int l = 0; l < m.L; ++l) s += c[l] * m.kv_b[row * m.L + l];
    return s;
  };
  Want want;
  for (int t = 0; t < m.T; ++t) {
    int s = m.seq_of[t], p = m.positions[t], qk = m.nope + m.R;
    for (int h = 0; h < m.H; ++h) {
      const float* qh = &q_in[t * m.qs + h * qk];
      std::vector<double> qf(qh, qh + m.nope), qr = hf_rope(qh + m.nope, p);
      qf.insert(qf.end(), qr.begin(), qr.end());
      std::vector<double> score(p + 1), out(m.V, 0.0);
      std::vector<std::vector<double>> v(p + 1);
      double max = -INFINITY, sum = 0;
      for (int j = 0; j <= p; ++j) {
        std::vector<double> c = m.latent(s, j), k(m.nope);
        for (int d = 0; d < m.nope; ++d) k[d] = up(c, h * (m.nope + m.V) + d);
        std::vector<double> kr = hf_rope(&m.raw[s][j * m.D + m.L], j);
        k.insert(k.end(), kr.begin(), kr.end());
        for (int d = 0; d < m.V; ++d) v[j].push_back(up(c, h * (m.nope + m.V) + m.nope + d));
        score[j] = dot(qf.data(), k.data(), qk) * m.scale();
        max = std::max(max, score[j]);
      }
      for (int j = 0; j <= p; ++j) sum += (score[j] = std::exp(score[j] - max));
      for (int j = 0; j <= p; ++j)
        for (int d = 0; d < m.V; ++d) out[d] += score[j] / sum * v[j][d];
      want.insert(want.end(), out.begin(), out.end());
    }
  }
  return want;
}

void test_layer(Backend& be, const std::string& sfx, Layer m) {
  const int T = m.T, H = m.H, L = m.L, R = m.R, D = (int)m.D;
  const Vec q_in = m.q;

  // 1. rope + cache write: q_pe rotated in place (q_nope and padding untouched); the step's rows
  // at their slots, every other slot as it was (prefix rows, NaN poison).
  Vec cache_want = m.cache;
  Want q_want(q_in.begin(), q_in.end());
  for (int t = 0; t < T; ++t) {
    std::vector<double> r = m.cache_row(m.seq_of[t], m.positions[t]);
    std::copy(r.begin(), r.end(), &cache_want[m.slots[t] * D]);
    for (int h = 0; h < H; ++h) {
      double* qp = &q_want[t * m.qs + h * (m.nope + R) + m.nope];
      m.rotate(qp, m.positions[t]);
    }
  }
  be.mla_rope_kv_write(m.q_pe(), Tensor{m.kv_a.data(), DType::F32, T, D}, m.positions.data(),
                       m.slots.data(), m.rope(), m.kv());
  check_close("mla_rope_kv_write q_pe rotated, rest untouched" + m.label() + sfx, m.q, q_want, kTol);
  Vec written = m.cache;
  bool rows_ok = true;
  for (int t = 0; t < T; ++t) {
    for (int d = 0; d < D; ++d) {
      float& got = written[m.slots[t] * D + d];
      float want = cache_want[m.slots[t] * D + d];
      rows_ok &= std::fabs(got - want) <= 2e-5 * std::max(1.0f, std::fabs(want));
      got = want;  // compared; the rest must match bit for bit
    }
  }
  check("mla_rope_kv_write cache rows, other slots untouched" + m.label() + sfx,
        rows_ok && same_bits(written, cache_want));

  // 2. q_latent_h = W_UK_h^T q_nope_h, W_UK read in place from kv_b_proj.weight.
  Vec ql(T * H * L, kNaN);
  be.matmul_heads(view(ql.data(), T, H, L, H * L, L), m.q_nope(), m.w_uk(), true);
  Want ql_want;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h)
      for (int l = 0; l < L; ++l) {
        double s = 0;
        for (int d = 0; d < m.nope; ++d)
          s += (double)q_in[t * m.qs + h * (m.nope + R) + d] * m.kv_b[(h * (m.nope + m.V) + d) * L + l];
        ql_want.push_back(s);
      }
  check_close("matmul_heads q_nope -> q_latent" + m.label() + sfx, ql, ql_want, kTol);

  // 3. Latent attention against the absorbed formula on the cache the op wrote.
  AttnMeta meta = m.meta();
  Vec o(T * H * L, kNaN);
  be.mla_attention(Tensor{o.data(), DType::F32, T, H * L}, Tensor{ql.data(), DType::F32, T, H * L},
                   m.q_pe(), m.kv(), meta, m.scale());
  Want o_want;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      int s = m.seq_of[t], n = m.positions[t] + 1;
      std::vector<double> score(n), acc(L, 0.0);
      double max = -INFINITY, sum = 0;
      for (int j = 0; j < n; ++j) {
        const float* r = &m.cache[m.slot(s, j) * D];
        double sc = 0;
        for (int l = 0; l < L; ++l) sc += (double)ql[(t * H + h) * L + l] * r[l];
        for (int i = 0; i < R; ++i) sc += (double)m.q[t * m.qs + h * (m.nope + R) + m.nope + i] * r[L + i];
        score[j] = sc * m.scale();
        max = std::max(max, score[j]);
      }
      for (int j = 0; j < n; ++j) sum += (score[j] = std::exp(score[j] - max));
      for (int j = 0; j < n; ++j)
        for (int l = 0; l < L; ++l) acc[l] += score[j] / sum * m.cache[m.slot(s, j) * D + l];
      o_want.insert(o_want.end(), acc.begin(), acc.end());
    }
  check_close("mla_attention" + m.label() + sfx, o, o_want, kTol);

  // 4. out_h = W_UV_h o_h, then the whole absorbed layer against non-absorbed MLA.
  Vec out(T * H * m.V, kNaN);
  be.matmul_heads(view(out.data(), T, H, m.V, H * m.V, m.V), view(o.data(), T, H, L, H * L, L),
                  m.w_uv(), false);
  check_close("absorbed MLA == non-absorbed MLA (HF)" + m.label() + sfx, out, naive_mla(m, q_in), kTol);

  KvLayer two = m.kv();
  two.num_kv_heads = 2;
  check_throws("mla_attention rejects 2 KV heads" + sfx, ErrorCode::InvalidArgument, [&] {
    be.mla_attention(Tensor{o.data(), DType::F32, T, H * L}, Tensor{ql.data(), DType::F32, T, H * L},
                     m.q_pe(), two, meta, m.scale());
  });
  m.table[m.max_blocks] = m.num_blocks;  // sequence 1's first block
  check_throws("mla_attention block id out of range" + sfx, ErrorCode::InvalidArgument, [&] {
    be.mla_attention(Tensor{o.data(), DType::F32, T, H * L}, Tensor{ql.data(), DType::F32, T, H * L},
                     m.q_pe(), m.kv(), m.meta(), m.scale());
  });
  m.slots[T - 1] = m.num_blocks * m.bs;
  check_throws("mla_rope_kv_write slot out of range" + sfx, ErrorCode::InvalidArgument, [&] {
    be.mla_rope_kv_write(m.q_pe(), Tensor{m.kv_a.data(), DType::F32, T, D}, m.positions.data(),
                         m.slots.data(), m.rope(), m.kv());
  });
  check_throws("mla_rope_kv_write odd rope dim" + sfx, ErrorCode::InvalidArgument, [&] {
    Slices odd = m.q_pe();
    odd.cols = R - 1;
    be.mla_rope_kv_write(odd, Tensor{m.kv_a.data(), DType::F32, T, D - 1}, m.positions.data(),
                         m.slots.data(), m.rope(), KvLayer{m.cache.data(), nullptr, m.num_blocks, m.bs, 1, D - 1});
  });
}

// The decompressed form of a prefill step (no cached prefix): the cache rows the step wrote,
// gathered by slot (embedding), up-projected with kv_b_proj (matmul_heads, one head), and
// attention_dense with k = [k_nope per head | k_pe shared]: equal to non-absorbed MLA.
void test_decompressed(Backend& be, const std::string& sfx, Layer m) {
  const int T = m.T, H = m.H, L = m.L, R = m.R, D = (int)m.D, N = m.nope, V = m.V, W = H * (N + V);
  const Vec q_in = m.q;
  be.mla_rope_kv_write(m.q_pe(), Tensor{m.kv_a.data(), DType::F32, T, D}, m.positions.data(),
                       m.slots.data(), m.rope(), m.kv());
  Vec rows(T * D, kNaN), kv(T * W, kNaN), out(T * H * V, kNaN);
  be.embedding(Tensor{rows.data(), DType::F32, T, D}, Tensor{m.cache.data(), DType::F32, m.num_blocks * m.bs, D},
               m.slots.data());
  be.matmul_heads(view(kv.data(), T, 1, W, W, W), view(rows.data(), T, 1, L, D, L), view(m.kv_b.data(), W, 1, L, L, L * W),
                  false);
  const Slices q = view(m.q.data(), T, H, N + R, m.qs, N + R), k = view(kv.data(), T, H, N, W, N + V);
  const Slices k_pe = view(rows.data() + L, T, H, R, D, 0), v = view(kv.data() + N, T, H, V, W, N + V);
  be.attention_dense(view(out.data(), T, H, V, H * V, V), q, k, k_pe, v, m.meta(), m.scale());
  check_close("decompressed MLA == non-absorbed MLA (HF)" + m.label() + sfx, out, naive_mla(m, q_in), kTol);

  AttnMeta cached = m.meta();
  std::vector<int32_t> ctx = m.ctx_len;
  ctx[0] += 1;
  cached.ctx_len = ctx.data();
  cached.max_ctx_len += 1;
  check_throws("attention_dense rejects a cached prefix" + sfx, ErrorCode::InvalidArgument, [&] {
    be.attention_dense(view(out.data(), T, H, V, H * V, V), q, k, k_pe, v, cached, m.scale());
  });
  check_throws("attention_dense rejects a key narrower than q" + sfx, ErrorCode::InvalidArgument, [&] {
    be.attention_dense(view(out.data(), T, H, V, H * V, V), q, view(kv.data(), T, H, N - 1, W, N + V), k_pe, v,
                       m.meta(), m.scale());
  });
}

}  // namespace

int main() {
  // Per step: decode (q_len 1) after 6 cached tokens, prefill of 5 after 4 cached, fresh prefill.
  std::vector<std::pair<int, int>> small{{1, 7}, {5, 9}, {3, 3}}, large{{1, 150}, {120, 160}, {33, 33}};
  // Prefill steps without a cached prefix (the decompressed form), one of a single token.
  std::vector<std::pair<int, int>> fresh{{4, 4}, {1, 1}, {9, 9}}, fresh_large{{150, 150}, {33, 33}};
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    std::string sfx = " (threads " + std::to_string(threads) + ")";
    test_matmul_heads(*be, sfx, 5, 3, 7, 11);
    test_matmul_heads(*be, sfx, 37, 5, 33, 45);
    for (int bs : {4, 16}) {
      // heads, qk_nope, qk_rope, kv_lora_rank, v_head_dim: odd sizes (rope must be even).
      test_layer(*be, sfx, Layer(small, 3, 7, 6, 11, 9, bs));
      test_layer(*be, sfx, Layer(large, 4, 16, 8, 37, 13, bs));
      test_decompressed(*be, sfx, Layer(fresh, 3, 7, 6, 11, 9, bs));
      test_decompressed(*be, sfx, Layer(fresh_large, 4, 16, 8, 37, 13, bs));
    }
  }
  return gpubench_test::summary();
}
