// The harness of the CUDA op tests (cuda_ops_test.cu and the per-family files beside it): one
// CUDA and one CPU backend, tensors made on both from the same values, and the comparison that
// reports one PASS/FAIL line per case. Each op family's cases live in their own file and are run
// from main() in cuda_ops_test.cu.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "base/error.h"
#include "base/rng.h"

namespace gpubench::test {

inline Backend* G = nullptr;  // CUDA
inline Backend* C = nullptr;  // CPU reference
inline int passes = 0, failures = 0;
inline const char* filter = nullptr;  // argv[1]: run only the groups whose name contains it
inline std::mt19937 gen(1234);
constexpr double kTol = 2e-2;  // bf16 results against fp32 math

inline void report(const std::string& name, bool ok, const std::string& detail) {
  std::printf("%s %s  %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  std::fflush(stdout);
  ok ? ++passes : ++failures;
}

// The allocations of one case, on both backends, released when the case ends.
struct Scope {
  std::vector<std::pair<Backend*, void*>> ptrs;
  ~Scope() {
    for (auto& [b, p] : ptrs) b->release(p);
  }
  void* alloc(Backend* b, size_t bytes) {
    ptrs.push_back({b, b->alloc(bytes)});
    return ptrs.back().second;
  }
};

// One logical tensor on both backends: bf16 (or f32) on CUDA, f32 on the CPU.
struct Dual {
  Tensor g, c;
};

inline Dual make(Scope& s, int64_t rows, int64_t cols, DType gdt = DType::BF16) {
  return {Tensor{s.alloc(G, rows * cols * dtype_size(gdt)), gdt, rows, cols},
          Tensor{s.alloc(C, rows * cols * 4), DType::F32, rows, cols}};
}

inline Dual dummy(Scope& s, int64_t rows, int64_t cols, uint64_t stream, float scale,
           DType gdt = DType::BF16) {
  Dual d = make(s, rows, cols, gdt);
  G->init_dummy(d.g, 7, stream, scale);
  C->init_dummy(d.c, 7, stream, scale);
  return d;
}

inline Dual upload(Scope& s, int64_t rows, int64_t cols, std::vector<float> v, DType gdt = DType::BF16) {
  Dual d = make(s, rows, cols, gdt);
  if (gdt == DType::BF16)
    for (float& x : v) x = round_to_bf16(x);
  G->upload_f32(d.g, v.data());
  C->upload_f32(d.c, v.data());
  return d;
}

struct DualI32 {
  int32_t *g, *c;
};

inline DualI32 upload_i32(Scope& s, const std::vector<int32_t>& v) {
  const size_t bytes = v.size() * 4;
  DualI32 d{static_cast<int32_t*>(s.alloc(G, bytes)), static_cast<int32_t*>(s.alloc(C, bytes))};
  G->copy_to_device(d.g, v.data(), bytes);
  C->copy_to_device(d.c, v.data(), bytes);
  return d;
}

// Columns [first, first + cols) of every row (a view into a fused buffer such as qkv).
inline Tensor cols_view(Tensor t, int64_t first, int64_t cols) {
  return Tensor{(char*)t.data + first * dtype_size(t.dtype), t.dtype, t.rows, cols};
}
inline Dual cols_view(Dual d, int64_t first, int64_t cols) {
  return {cols_view(d.g, first, cols), cols_view(d.c, first, cols)};
}

inline std::vector<float> download(Backend* b, Tensor t) {
  std::vector<float> v((size_t)t.numel());
  b->download_f32(v.data(), t);
  return v;
}

// Relative L2 error of CUDA's tensor against the CPU's; any non-finite value fails.
inline void compare(const std::string& name, Tensor g, Tensor c, double tol) {
  const auto a = download(G, g), b = download(C, c);
  double num = 0, den = 0;
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) ++bad;
    const double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  char buf[128];
  std::snprintf(buf, sizeof buf, "rel_l2=%.2e tol=%.0e non_finite=%zu", rel, tol, bad);
  report(name, bad == 0 && rel <= tol, buf);
}

// The kernel path (Backend::take_kernel_paths) the CUDA backend took for `op` since the last
// call; call it once before the op (to forget earlier cases) and once after.
inline void expect_path(const std::string& name, const char* op, const std::string& want) {
  const auto paths = G->take_kernel_paths();
  const auto it = paths.find(op);
  const std::string got = it == paths.end() ? "(none)" : it->second;
  report(name + " path", got == want, std::string(op) + " took " + got + ", expected " + want);
}

inline std::vector<int32_t> random_ints(size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

inline std::string str(std::initializer_list<std::pair<const char*, int64_t>> kv) {
  std::string s;
  for (auto& [k, v] : kv) s += std::string(s.empty() ? "" : " ") + k + "=" + std::to_string(v);
  return s;
}

inline void run(const std::string& name, const std::function<void()>& fn) {
  if (filter && name.find(filter) == std::string::npos) return;
  try {
    fn();
  } catch (const std::exception& e) {
    report(name, false, std::string("threw: ") + e.what());
  }
}

// Block tables of a paged cache for sequences of the given context lengths (each at least one
// block), their blocks scattered at random over a pool of `blocks`, on both backends.
struct BlockTables {
  DualI32 table;  // [sequences][max_blocks_per_seq]
  int64_t blocks = 0;
  int max_blocks_per_seq = 0;
};

inline BlockTables random_block_tables(Scope& s, const std::vector<int>& ctx, int capacity, int bs) {
  BlockTables p;
  p.max_blocks_per_seq = (capacity + bs - 1) / bs;
  for (int c : ctx) p.blocks += std::max(1, (c + bs - 1) / bs);
  std::vector<int32_t> order(p.blocks), table(ctx.size() * p.max_blocks_per_seq, 0);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), gen);
  size_t next = 0;
  for (size_t i = 0; i < ctx.size(); ++i)
    for (int j = 0; j < std::max(1, (ctx[i] + bs - 1) / bs); ++j)
      table[i * p.max_blocks_per_seq + j] = order[next++];
  p.table = upload_i32(s, table);
  return p;
}

// Each op family's file defines its cases' runner; main() in cuda_ops_test.cu calls them.
void run_moe_tests();
void run_mla_tests();
void run_nccl_tests();

}  // namespace gpubench::test
