// matmul: out[M,N] = x[M,K] * w[N,K]^T (+ bias), fp32. x and w are both row-major along K, so each
// output is a contiguous dot product. A register tile of MR rows of x by NR rows of w shares every
// load, and each dot product keeps kLanes independent partial sums, which the compiler turns into
// SIMD registers without reassociating floats (no -ffast-math needed).
#include <algorithm>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

namespace {

// 2 x 4 dot products of 8 lanes: the fastest of the 1..4 x 2..4 tiles measured with -O3 on x86-64
// (SSE2 baseline), ~35 GFLOPS on 2 cores; 1 x 4 (decode) runs at memory bandwidth.
constexpr int kLanes = 8;
constexpr int kMR = 2, kNR = 4;
constexpr int64_t kRowBlock = 64;  // rows of x kept in cache while a chunk's w tiles pass over them

template <int MR, int NR>
void tile(const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t K, float* out,
          int64_t ldo, const float* bias) {
  float acc[MR][NR][kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j)
        for (int l = 0; l < kLanes; ++l) acc[i][j][l] += x[i * ldx + k + l] * w[j * ldw + k + l];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      float sum = 0.0f;
      for (int l = 0; l < kLanes; ++l) sum += acc[i][j][l];
      for (int64_t kk = k; kk < K; ++kk) sum += x[i * ldx + kk] * w[j * ldw + kk];
      out[i * ldo + j] = bias ? sum + bias[j] : sum;
    }
}

// Rows [m0, m1) of x against rows [n0, n1) of w.
void block(const float* x, const float* w, float* out, const float* bias, int64_t K, int64_t N,
           int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; n += kNR) {
    const float* wn = w + n * K;
    const float* bn = bias ? bias + n : nullptr;
    bool full_n = n + kNR <= n1;
    int64_t m = m0;
    for (; full_n && m + kMR <= m1; m += kMR)
      tile<kMR, kNR>(x + m * K, K, wn, K, K, out + m * N + n, N, bn);
    for (; m < m1; ++m) {
      if (full_n) {
        tile<1, kNR>(x + m * K, K, wn, K, K, out + m * N + n, N, bn);
        continue;
      }
      for (int64_t j = n; j < n1; ++j)
        tile<1, 1>(x + m * K, K, w + j * K, K, K, out + m * N + j, N, bias ? bias + j : nullptr);
    }
  }
}

}  // namespace

void CpuBackend::matmul(Tensor out, Tensor x, Tensor w, const Tensor* bias) {
  check_f32("matmul", "out", out);
  check_f32("matmul", "x", x);
  check_f32("matmul", "w", w);
  if (bias) check_f32("matmul", "bias", *bias);
  check_matmul(out, x, w, bias);
  const int64_t M = x.rows, K = x.cols, N = w.rows;
  const float* xp = static_cast<const float*>(x.data);
  const float* wp = static_cast<const float*>(w.data);
  const float* bp = bias ? static_cast<const float*>(bias->data) : nullptr;
  float* op = static_cast<float*>(out.data);
  int64_t n_tiles = (N + kNR - 1) / kNR;
  // Threads split the columns (rows of w): each streams its share of w once per row block of x.
  pool_.parallel_for(n_tiles, [&](int64_t t0, int64_t t1) {
    int64_t n0 = t0 * kNR, n1 = std::min(t1 * kNR, N);
    for (int64_t m0 = 0; m0 < M; m0 += kRowBlock)
      block(xp, wp, op, bp, K, N, m0, std::min(m0 + kRowBlock, M), n0, n1);
  }, grain_for(2 * M * K * kNR));
}

}  // namespace gpubench
