// Every CPU backend op against a naive double-precision computation written here, on odd sizes,
// with outputs poisoned (NaN) first so that a missed element fails. Each op runs on a small case
// and on one large enough to be split across the pool, with 1 and 3 threads (3 > cores, so chunks
// interleave). Prints PASS/FAIL lines; exits 1 on any failure.
//
// Build and run from the repository root:
// g++ -std=c++17 -O2 -Wall -Inative test/native/cpu_ops_test.cc native/backend/cpu/*.cc -lpthread -o /tmp/cpu_ops_test && /tmp/cpu_ops_test
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "base/rng.h"
#include "check.h"

using namespace gpubench;
using Vec = std::vector<float>;

namespace {

using namespace gpubench_test;  // check, check_close, check_throws, kNaN, random_vec, t32

double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (double)a[i] * b[i];
  return s;
}

std::string dims(int64_t a, int64_t b) { return " " + std::to_string(a) + "x" + std::to_string(b); }

void test_memory_and_timing(Backend& be) {
  check("identity", be.name() == "cpu" && be.act_dtype() == DType::F32);
  DeviceInfo info = be.device_info();
  check("device_info", info.name.find("CPU") == 0 && info.total_bytes > 0 && info.free_bytes > 0 &&
                           info.free_bytes <= info.total_bytes, info.name);
  void* p = be.alloc(1000);
  Vec src = random_vec(250, 1), dst(250), mid(250);
  be.copy_to_device(p, src.data(), 1000);
  be.copy_device(mid.data(), p, 1000);
  be.copy_to_host(dst.data(), mid.data(), 1000);
  check("alloc aligned, copies", (uintptr_t)p % 64 == 0 && dst == src);
  be.release(p);
  check_throws("alloc too large", ErrorCode::OutOfMemory, [&] { be.alloc(SIZE_MAX / 2); });

  Vec x = {1.0f, 1.00390625f, 1.01171875f, -3.14159f, 1e-3f}, back(5);
  std::vector<uint16_t> bits(5);
  be.upload_f32(Tensor{bits.data(), DType::BF16, 1, 5}, x.data());
  be.download_f32(back.data(), Tensor{bits.data(), DType::BF16, 1, 5});
  bool ok = true;
  for (int i = 0; i < 5; ++i)
    ok &= bits[i] == f32_to_bf16_bits(x[i]) && back[i] == round_to_bf16(x[i]);
  // Ties go to even: 1 + 2^-8 lies halfway between bf16 1 and 1 + 2^-7, 1 + 3 * 2^-8 rounds up.
  check("upload/download bf16", ok && back[1] == 1.0f && back[2] == 1.015625f);

  Event a = be.event_create(), b = be.event_create();
  be.event_record(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  be.event_record(b);
  float ms = be.event_elapsed_ms(a, b);
  check("events", ms >= 2.5f && ms < 1000.0f, std::to_string(ms) + " ms");
  be.event_destroy(a);
  be.event_destroy(b);
}

void test_init(Backend& be, const std::string& sfx, int64_t R, int64_t C) {
  const int64_t n = R * C;
  const uint64_t stream = name_hash("layers.0.mlp.up_proj.weight");
  Vec w1(n, kNaN), w2(n, kNaN);
  std::vector<uint16_t> wb(n);
  be.init_dummy(t32(w1, R, C), 42, stream, 0.02f);
  be.init_dummy(t32(w2, R, C), 42, stream, 0.02f);
  be.init_dummy(Tensor{wb.data(), DType::BF16, R, C}, 42, stream, 0.02f);
  bool same = true, bf16_same = true;
  for (int64_t i = 0; i < n; ++i) {
    float from_bits = bf16_bits_to_f32(wb[i]);
    // U(-0.02, 0.02) rounded to bf16 (8 bits of mantissa) may step just past 0.02.
    same &= std::memcmp(&w1[i], &w2[i], 4) == 0 && std::fabs(w1[i]) <= 0.02f * (1 + 1.0f / 256);
    bf16_same &= std::memcmp(&w1[i], &from_bits, 4) == 0 &&
                 wb[i] == dummy_weight_bits(42, stream, (uint64_t)i, 0.02f);
  }
  check("init_dummy repeatable" + dims(R, C) + sfx, same);
  check("init_dummy bf16 == f32 bits" + dims(R, C) + sfx, bf16_same);
  // A block of rows [r0, R) and columns [c0, C) holds the whole tensor's values there (a shard).
  const int64_t r0 = R / 3, c0 = C / 2, br = R - r0, bc = C - c0;
  Vec block(br * bc, kNaN);
  be.init_dummy_block(t32(block, br, bc), 42, stream, 0.02f, r0 * C + c0, C);
  bool block_same = true;
  for (int64_t r = 0; r < br; ++r)
    for (int64_t c = 0; c < bc; ++c) block_same &= std::memcmp(&block[r * bc + c], &w1[(r0 + r) * C + c0 + c], 4) == 0;
  check("init_dummy_block == the whole tensor's block" + dims(R, C) + sfx, block_same);
  Vec f(n, kNaN);
  be.fill(t32(f, R, C), 1.5f);
  bool filled = std::all_of(f.begin(), f.end(), [](float v) { return v == 1.5f; });
  check("fill" + dims(R, C) + sfx, filled);
}

void test_embedding(Backend& be, const std::string& sfx, int64_t R, int64_t C) {
  const int64_t V = 11;
  Vec table = random_vec(V * C, 2), out(R * C, kNaN);
  std::vector<int32_t> ids(R);
  for (int64_t r = 0; r < R; ++r) ids[r] = (int32_t)((r * 7 + 3) % V);
  be.embedding(t32(out, R, C), t32(table, V, C), ids.data());
  std::vector<double> want;
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) want.push_back(table[ids[r] * C + c]);
  check_close("embedding" + dims(R, C) + sfx, out, want, 0);
  ids[R - 1] = (int32_t)V;
  check_throws("embedding bad id" + sfx, ErrorCode::InvalidArgument,
               [&] { be.embedding(t32(out, R, C), t32(table, V, C), ids.data()); });
}

std::vector<double> naive_rmsnorm(const Vec& x, const Vec& w, int64_t rows, int64_t cols,
                                  double eps) {
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) {
    double inv = 1.0 / std::sqrt(dot(&x[r * cols], &x[r * cols], cols) / cols + eps);
    for (int64_t c = 0; c < cols; ++c) out.push_back(x[r * cols + c] * inv * w[c]);
  }
  return out;
}

void test_norm(Backend& be, const std::string& sfx, int64_t R, int64_t C) {
  std::string d = dims(R, C) + sfx;
  Vec x = random_vec(R * C, 3), w = random_vec(C, 4), out(R * C, kNaN);
  be.rmsnorm(t32(out, R, C), t32(x, R, C), t32(w, 1, C), 1e-6f);
  check_close("rmsnorm" + d, out, naive_rmsnorm(x, w, R, C, 1e-6));
  Vec inplace = x;
  be.rmsnorm(t32(inplace, R, C), t32(inplace, R, C), t32(w, 1, C), 1e-6f);
  check("rmsnorm in place" + d, inplace == out);

  Vec res = random_vec(R * C, 5), res2 = res, sum(R * C);
  for (int64_t i = 0; i < R * C; ++i) sum[i] = res[i] + x[i];
  std::fill(out.begin(), out.end(), kNaN);
  // A large eps, so that dropping it fails.
  be.add_rmsnorm(t32(res, R, C), t32(x, R, C), t32(w, 1, C), t32(out, R, C), 0.1f);
  check("add_rmsnorm residual" + d, res == sum);
  check_close("add_rmsnorm out" + d, out, naive_rmsnorm(sum, w, R, C, 0.1));
  Vec x_alias = x;
  be.add_rmsnorm(t32(res2, R, C), t32(x_alias, R, C), t32(w, 1, C), t32(x_alias, R, C), 0.1f);
  check("add_rmsnorm out aliasing x" + d, res2 == sum && x_alias == out);
  check_throws("rmsnorm weight shape" + sfx, ErrorCode::InvalidArgument,
               [&] { be.rmsnorm(t32(out, R, C), t32(x, R, C), t32(w, 1, C - 1), 1e-6f); });
}

void test_matmul(Backend& be, const std::string& sfx, int64_t M, int64_t K, int64_t N) {
  Vec x = random_vec(M * K, 6), w = random_vec(N * K, 7), bias = random_vec(N, 8);
  Tensor b = t32(bias, 1, N);
  for (bool with_bias : {false, true}) {
    Vec out(M * N, kNaN);
    be.matmul(t32(out, M, N), t32(x, M, K), t32(w, N, K), with_bias ? &b : nullptr);
    std::vector<double> want;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        want.push_back(dot(&x[m * K], &w[n * K], K) + (with_bias ? bias[n] : 0.0));
    check_close("matmul" + dims(M, K) + "x" + std::to_string(N) + (with_bias ? " +bias" : "") + sfx,
                out, want);
  }
}

void test_matmul_errors(Backend& be) {
  Vec x(6), w(6), out(4);
  std::vector<uint16_t> wb(6);
  check_throws("matmul bf16 weight", ErrorCode::InvalidArgument, [&] {
    be.matmul(t32(out, 2, 2), t32(x, 2, 3), Tensor{wb.data(), DType::BF16, 2, 3}, nullptr);
  });
  check_throws("matmul K mismatch", ErrorCode::InvalidArgument,
               [&] { be.matmul(t32(out, 2, 2), t32(x, 2, 3), t32(w, 3, 2), nullptr); });
}

void test_swiglu(Backend& be, const std::string& sfx, int64_t T, int64_t I) {
  Vec gu = random_vec(T * 2 * I, 9), out(T * I, kNaN);
  for (float& v : gu) v *= 6.0f;
  be.swiglu(t32(out, T, I), t32(gu, T, 2 * I));
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < I; ++i) {
      double g = gu[t * 2 * I + i], u = gu[t * 2 * I + I + i];
      want.push_back(g / (1.0 + std::exp(-g)) * u);
    }
  check_close("swiglu" + dims(T, I) + sfx, out, want);
}

void test_argmax(Backend& be, const std::string& sfx, int64_t R, int64_t V) {
  Vec logits = random_vec(R * V, 15);
  // Row 0 ties at its maximum; row 1 is flat; the last row peaks at its last element.
  logits[3] = logits[V - 2] = 2.0f;
  std::fill(logits.begin() + V, logits.begin() + 2 * V, 0.5f);
  logits[R * V - 1] = 3.0f;
  std::vector<int32_t> idx(R, -1);
  be.argmax(idx.data(), t32(logits, R, V));
  bool ok = idx[0] == 3 && idx[1] == 0 && idx[R - 1] == V - 1;
  for (int64_t r = 2; r < R - 1; ++r)
    ok &= idx[r] == std::max_element(&logits[r * V], &logits[(r + 1) * V]) - &logits[r * V];
  check("argmax (ties: lowest index)" + dims(R, V) + sfx, ok);
}

// A step over the paged cache: per sequence (q_len, ctx_len), blocks handed out in descending
// order so that no sequence's blocks are contiguous, and q, k, v as column slices of one fused qkv
// buffer with 3 columns of padding per row. The cache starts random, standing in for earlier steps.
struct Paged {
  int Hq = 4, Hkv = 2, hd, bs, S, T = 0, max_blocks = 0, num_blocks = 0;
  int64_t stride;
  std::vector<int32_t> q_start{0}, ctx_len, table, positions, slots, seq_of;
  Vec qkv, kc, vc;

  Paged(const std::vector<std::pair<int, int>>& seqs, int head_dim, int block_size)
      : hd(head_dim), bs(block_size), S((int)seqs.size()), stride((Hq + 2 * Hkv) * hd + 3) {
    for (auto [q_len, ctx] : seqs) {
      max_blocks = std::max(max_blocks, (ctx + bs - 1) / bs);
      num_blocks += (ctx + bs - 1) / bs;
    }
    num_blocks += 1;  // one block no sequence uses
    table.assign(S * max_blocks, -1);
    int next = num_blocks - 1;
    for (int s = 0; s < S; ++s) {
      auto [q_len, ctx] = seqs[s];
      for (int b = 0; b < (ctx + bs - 1) / bs; ++b) table[s * max_blocks + b] = next--;
      for (int i = 0; i < q_len; ++i) {
        positions.push_back(ctx - q_len + i);
        slots.push_back(table[s * max_blocks + positions.back() / bs] * bs + positions.back() % bs);
        seq_of.push_back(s);
      }
      ctx_len.push_back(ctx);
      q_start.push_back(T += q_len);
    }
    qkv = random_vec(T * stride, 10);
    kc = random_vec((size_t)num_blocks * Hkv * bs * hd, 11);
    vc = random_vec((size_t)num_blocks * Hkv * bs * hd, 12);
  }
  // Cache offset of position j of sequence s, kv head h.
  int64_t at(int s, int j, int h) const {
    return ((int64_t)(table[s * max_blocks + j / bs] * Hkv + h) * bs + j % bs) * hd;
  }
  Tensor slice(int head0, int heads) {
    return Tensor{qkv.data() + head0 * hd, DType::F32, T, heads * hd};
  }
  Tensor q() { return slice(0, Hq); }
  Tensor k() { return slice(Hq, Hkv); }
  Tensor v() { return slice(Hq + Hkv, Hkv); }
  KvLayer layer() { return KvLayer{kc.data(), vc.data(), num_blocks, bs, Hkv, hd}; }
  std::string label() const { return " T" + std::to_string(T) + " hd" + std::to_string(hd); }
};

void test_rope(Backend& be, const std::string& sfx, Paged p, bool qk_norm) {
  const int hd = p.hd, half = hd / 2;
  Vec in = p.qkv, inv_freq(half), qn = random_vec(hd, 13), kn = random_vec(hd, 14);
  for (int i = 0; i < half; ++i) inv_freq[i] = (float)std::pow(10000.0, -2.0 * i / hd);
  RopeParams rope{inv_freq.data(), qk_norm ? 1.25f : 1.0f, qk_norm ? qn.data() : nullptr,
                  qk_norm ? kn.data() : nullptr, 0.1f};  // a large eps, so that dropping it fails
  Vec kc_want = p.kc, vc_want = p.vc;
  be.rope_kv_write(p.q(), p.k(), p.v(), p.stride, p.Hq, p.positions.data(), p.slots.data(), rope,
                   p.layer());

  std::vector<double> want(in.begin(), in.end());  // v and the padding stay as they were
  for (int t = 0; t < p.T; ++t)
    for (int h = 0; h < p.Hq + p.Hkv; ++h) {
      const float* x = &in[t * p.stride + h * hd];
      const float* w = h < p.Hq ? qn.data() : kn.data();
      double inv = qk_norm ? 1.0 / std::sqrt(dot(x, x, hd) / hd + 0.1) : 1.0;
      std::vector<double> y(hd);
      for (int i = 0; i < hd; ++i) y[i] = qk_norm ? x[i] * inv * w[i] : x[i];
      for (int i = 0; i < half; ++i) {
        double angle = (float)p.positions[t] * inv_freq[i];  // an fp32 product, as Hugging Face
        double c = std::cos(angle) * rope.attn_factor, s = std::sin(angle) * rope.attn_factor;
        want[t * p.stride + h * hd + i] = y[i] * c - y[i + half] * s;
        want[t * p.stride + h * hd + i + half] = y[i + half] * c + y[i] * s;
      }
    }
  std::string name = std::string(qk_norm ? "rope qk-norm" : "rope") + p.label();
  check_close(name + " q/k rotated, v and padding untouched" + sfx, p.qkv, want);

  // The step's k and v rows land at their slots; every other cache element is left alone.
  for (int t = 0; t < p.T; ++t)
    for (int h = 0; h < p.Hkv; ++h)
      for (int d = 0; d < hd; ++d) {
        int64_t at = p.at(p.seq_of[t], p.positions[t], h) + d;
        kc_want[at] = p.qkv[t * p.stride + (p.Hq + h) * hd + d];
        vc_want[at] = in[t * p.stride + (p.Hq + p.Hkv + h) * hd + d];
      }
  check(name + " kv cache write" + sfx, p.kc == kc_want && p.vc == vc_want);
}

void test_attention(Backend& be, const std::string& sfx, Paged p) {
  const int hd = p.hd, Hq = p.Hq;
  const float scale = 1.0f / std::sqrt((float)hd);
  int max_q = 0, max_ctx = 0;
  for (int s = 0; s < p.S; ++s) {
    max_q = std::max(max_q, p.q_start[s + 1] - p.q_start[s]);
    max_ctx = std::max(max_ctx, p.ctx_len[s]);
  }
  AttnMeta meta{p.S, max_q, max_ctx, p.max_blocks,
                p.q_start.data(), p.ctx_len.data(), p.table.data()};
  Vec out(p.T * Hq * hd, kNaN);
  be.attention(t32(out, p.T, Hq * hd), p.q(), p.stride, Hq, p.layer(), meta, scale);

  std::vector<double> want;
  for (int t = 0; t < p.T; ++t)
    for (int h = 0; h < Hq; ++h) {
      int s = p.seq_of[t], kvh = h / (Hq / p.Hkv), n = p.positions[t] + 1;  // causal
      std::vector<double> score(n);
      double max = -INFINITY, sum = 0;
      for (int j = 0; j < n; ++j) {
        score[j] = dot(&p.qkv[t * p.stride + h * hd], &p.kc[p.at(s, j, kvh)], hd) * scale;
        max = std::max(max, score[j]);
      }
      for (int j = 0; j < n; ++j) sum += (score[j] = std::exp(score[j] - max));
      for (int d = 0; d < hd; ++d) {
        double o = 0;
        for (int j = 0; j < n; ++j) o += score[j] / sum * p.vc[p.at(s, j, kvh) + d];
        want.push_back(o);
      }
    }
  check_close("attention" + p.label() + sfx, out, want);

  check_throws("attention heads not a multiple of kv heads" + sfx, ErrorCode::InvalidArgument, [&] {
    be.attention(t32(out, p.T, 3 * hd), p.slice(0, 3), p.stride, 3, p.layer(), meta, scale);
  });
  p.table[p.max_blocks] = p.num_blocks;  // sequence 1's first block
  check_throws("attention block id out of range" + sfx, ErrorCode::InvalidArgument, [&] {
    be.attention(t32(out, p.T, Hq * hd), p.q(), p.stride, Hq, p.layer(), meta, scale);
  });
}

void test_rope_errors(Backend& be, Paged p) {
  Vec inv_freq(p.hd, 1.0f);
  KvLayer odd = p.layer();
  odd.head_dim = p.hd - 1;
  check_throws("rope odd head_dim", ErrorCode::InvalidArgument, [&] {
    be.rope_kv_write(Tensor{p.qkv.data(), DType::F32, p.T, p.Hq * odd.head_dim},
                     Tensor{p.qkv.data(), DType::F32, p.T, p.Hkv * odd.head_dim},
                     Tensor{p.qkv.data(), DType::F32, p.T, p.Hkv * odd.head_dim}, p.stride, p.Hq,
                     p.positions.data(), p.slots.data(), RopeParams{inv_freq.data()}, odd);
  });
  p.slots[p.T - 1] = p.num_blocks * p.bs;
  check_throws("rope slot out of range", ErrorCode::InvalidArgument, [&] {
    be.rope_kv_write(p.q(), p.k(), p.v(), p.stride, p.Hq, p.positions.data(), p.slots.data(),
                     RopeParams{inv_freq.data()}, p.layer());
  });
}

void test_parallel_for() {
  ThreadPool pool(3);
  bool ok = true;
  for (int64_t n : {0, 1, 5, 1000, 12345}) {
    std::vector<int> hits(n, 0);
    pool.parallel_for(n, [&](int64_t b, int64_t e) {
      // A nested call runs inline on the thread that makes it.
      pool.parallel_for(e - b, [&](int64_t b2, int64_t e2) {
        for (int64_t i = b + b2; i < b + e2; ++i) ++hits[i];
      });
    });
    ok &= std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; });
  }
  check("parallel_for covers every index once", ok);
  check_throws("parallel_for rethrows", ErrorCode::Internal, [&] {
    pool.parallel_for(100, [](int64_t b, int64_t) {
      if (b > 0) fail(ErrorCode::Internal, "from a chunk");
    });
  });
}

}  // namespace

int main() {
  // Decode (q_len 1), prefill after a cached prefix, fresh prefill; then one big enough to split.
  Paged small({{1, 7}, {5, 9}, {2, 2}}, 8, 4), large({{1, 300}, {40, 200}, {17, 17}}, 64, 16);
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    std::string sfx = " (threads " + std::to_string(threads) + ")";
    if (threads == 1) test_memory_and_timing(*be);
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{3, 37}, {37, 1901}}) {
      test_init(*be, sfx, rows, cols);
      test_embedding(*be, sfx, rows, cols);
      test_norm(*be, sfx, rows, cols);
      test_swiglu(*be, sfx, rows, cols);
      test_argmax(*be, sfx, rows, cols);
    }
    test_matmul(*be, sfx, 3, 37, 19);
    test_matmul(*be, sfx, 1, 37, 19);
    test_matmul(*be, sfx, 67, 131, 45);
    for (const Paged& p : {small, large}) {
      test_rope(*be, sfx, p, false);
      test_rope(*be, sfx, p, true);
      test_attention(*be, sfx, p);
    }
  }
  auto be = make_cpu_backend(2);
  test_matmul_errors(*be);
  test_rope_errors(*be, small);
  test_parallel_for();
  return gpubench_test::summary();
}
