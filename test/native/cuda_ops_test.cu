// Every CUDA op against its CPU reference (backend/cpu, fp32) on the same inputs: dummy weights
// are made by init_dummy on both backends (identical bf16 values), other inputs are uploaded from
// the same host arrays (rounded to bf16 first where CUDA stores bf16). CUDA outputs are poisoned
// with NaN first, so an unwritten element fails. Prints one PASS/FAIL line per case and
// "N passed, N failed" last; exits nonzero on any failure. An optional argument runs only the
// cases whose group name contains it (e.g. `gpubench_cuda_ops_test attention` under
// compute-sanitizer).
//
// Build and run on the GPU machine: see the CUDA block of CMakeLists.txt (gpubench_cuda_ops_test).
#include "cuda_test_harness.h"

using namespace gpubench;
using namespace gpubench::test;

namespace {

void test_init() {
  Scope s;
  const int64_t rows = 4099, cols = 4097;  // odd: the 16-byte loop and the scalar tail both run
  Tensor t{s.alloc(G, rows * cols * 2), DType::BF16, rows, cols};
  G->init_dummy(t, 42, 99, 0.02f);
  std::vector<uint16_t> bits((size_t)t.numel());
  G->copy_to_host(bits.data(), t.data, t.bytes());
  size_t wrong = 0;
  for (size_t i = 0; i < bits.size(); ++i) wrong += bits[i] != dummy_weight_bits(42, 99, i, 0.02f);
  report("init_dummy bf16 4099x4097 bit-exact", wrong == 0, str({{"wrong", (int64_t)wrong}}));

  Tensor view{static_cast<uint16_t*>(t.data) + 1, DType::BF16, 1, 1000};  // not 16-byte aligned
  G->init_dummy(view, 42, 5, 1.0f);
  G->copy_to_host(bits.data(), view.data, view.bytes());
  wrong = 0;
  for (size_t i = 0; i < 1000; ++i) wrong += bits[i] != dummy_weight_bits(42, 5, i, 1.0f);
  report("init_dummy bf16 unaligned view bit-exact", wrong == 0, str({{"wrong", (int64_t)wrong}}));

  // A rank's shard: rows [1, 4099) and columns [3, 4097) of the tensor above, odd width so the
  // 16-byte loop's groups of 8 cross rows.
  Tensor block{s.alloc(G, 4098 * 4094 * 2), DType::BF16, 4098, 4094};
  G->init_dummy_block(block, 42, 99, 0.02f, 1 * cols + 3, cols);
  std::vector<uint16_t> block_bits((size_t)block.numel());
  G->copy_to_host(block_bits.data(), block.data, block.bytes());
  wrong = 0;
  for (int64_t r = 0; r < block.rows; ++r)
    for (int64_t c = 0; c < block.cols; ++c)
      wrong += block_bits[r * block.cols + c] != dummy_weight_bits(42, 99, (uint64_t)((r + 1) * cols + c + 3), 0.02f);
  report("init_dummy_block bf16 shard of 4099x4097 bit-exact", wrong == 0, str({{"wrong", (int64_t)wrong}}));

  Dual f = dummy(s, 333, 777, 11, 0.5f, DType::F32);
  compare("init_dummy f32 == cpu", f.g, f.c, 0.0);
  Dual b = dummy(s, 100, 4096, 12, 1.0f);
  compare("init_dummy bf16 == cpu", b.g, b.c, 0.0);

  Tensor big{s.alloc(G, size_t(1) << 31), DType::BF16, 1 << 20, 1 << 10};  // 2 GiB
  Event e0 = G->event_create(), e1 = G->event_create();
  G->init_dummy(big, 1, 2, 0.02f);
  G->event_record(e0);
  G->init_dummy(big, 1, 3, 0.02f);
  G->event_record(e1);
  G->synchronize();
  const float ms = G->event_elapsed_ms(e0, e1);
  std::printf("INFO init_dummy of 2 GiB: %.2f ms (%.0f GB/s written)\n", ms,
              2.147483648 / ms * 1e3);
  G->event_destroy(e0);
  G->event_destroy(e1);
}

void test_fill() {
  Scope s;
  const std::pair<DType, float> cases[] = {
      {DType::BF16, 0.3f}, {DType::F32, -1.5f}, {DType::I32, 7.0f}};
  for (auto [dt, value] : cases) {
    Tensor t{s.alloc(G, 3 * 1001 * dtype_size(dt)), dt, 3, 1001};
    G->fill(t, value);
    std::vector<uint32_t> raw((size_t)t.numel());
    G->copy_to_host(raw.data(), t.data, t.bytes());
    size_t wrong = 0;
    const auto* bits = reinterpret_cast<const uint16_t*>(raw.data());
    const auto* floats = reinterpret_cast<const float*>(raw.data());
    const auto* ints = reinterpret_cast<const int32_t*>(raw.data());
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (dt == DType::BF16) wrong += bits[i] != f32_to_bf16_bits(value);
      if (dt == DType::F32) wrong += floats[i] != value;
      if (dt == DType::I32) wrong += ints[i] != (int32_t)value;
    }
    report(std::string("fill ") + dtype_name(dt), wrong == 0, str({{"wrong", (int64_t)wrong}}));
  }
}

void test_embedding(int64_t vocab, int64_t width) {
  Scope s;
  Dual table = dummy(s, vocab, width, 30, 1.0f);
  const int64_t rows = 37;
  DualI32 ids = upload_i32(s, random_ints(rows, 0, (int)vocab));
  Dual out = make(s, rows, width);
  G->fill(out.g, NAN);
  G->embedding(out.g, table.g, ids.g);
  C->embedding(out.c, table.c, ids.c);
  compare("embedding " + str({{"vocab", vocab}, {"width", width}}), out.g, out.c, 0.0);
}

void test_norm(int64_t cols) {
  Scope s;
  const int64_t rows = 7;
  const std::string shape = str({{"rows", rows}, {"cols", cols}});
  Dual x = dummy(s, rows, cols, 40, 2.0f), w = dummy(s, 1, cols, 41, 1.0f);
  Dual out = make(s, rows, cols);
  G->fill(out.g, NAN);
  G->rmsnorm(out.g, x.g, w.g, 1e-6f);
  C->rmsnorm(out.c, x.c, w.c, 1e-6f);
  compare("rmsnorm " + shape, out.g, out.c, kTol);

  G->rmsnorm(x.g, x.g, w.g, 1e-6f);  // in place: out aliases x
  C->rmsnorm(x.c, x.c, w.c, 1e-6f);
  compare("rmsnorm in place " + shape, x.g, x.c, kTol);

  Dual res = dummy(s, rows, cols, 42, 1.0f), y = dummy(s, rows, cols, 43, 1.0f);
  G->fill(out.g, NAN);
  G->add_rmsnorm(res.g, y.g, w.g, out.g, 1e-5f);
  C->add_rmsnorm(res.c, y.c, w.c, out.c, 1e-5f);
  compare("add_rmsnorm residual " + shape, res.g, res.c, kTol);
  compare("add_rmsnorm out " + shape, out.g, out.c, kTol);
}

void test_matmul(int64_t m, int64_t n, int64_t k, DType out_dt, bool with_bias,
                 bool row_view = false) {
  Scope s;
  Dual x = dummy(s, m + 2, k, 50, 1.0f);
  // A view of m rows that starts one row (2*K bytes) in.
  if (row_view) x = {Tensor{x.g.row(1).data, x.g.dtype, m, k}, Tensor{x.c.row(1).data, x.c.dtype, m, k}};
  else x = {x.g.first_rows(m), x.c.first_rows(m)};
  Dual w = dummy(s, n, k, 51, 0.05f), bias = dummy(s, 1, n, 52, 0.5f);
  Dual out = make(s, m, n, out_dt);
  G->fill(out.g, NAN);
  G->matmul(out.g, x.g, w.g, with_bias ? &bias.g : nullptr);
  C->matmul(out.c, x.c, w.c, with_bias ? &bias.c : nullptr);
  const std::string cfg =
      str({{"M", m}, {"N", n}, {"K", k}, {"bias", with_bias}, {"row_view", row_view}});
  compare("matmul " + cfg + " out=" + dtype_name(out_dt), out.g, out.c,
          out_dt == DType::F32 ? 1e-3 : kTol);
}

// matmul's own decode kernel (matmul_small_m.cu), pinned. x is written by the kernels just before
// it (a fill with NaN, then rmsnorm), so a launch that read x before they finished (its
// programmatic dependent launch on Hopper) would show. Shapes no other case uses: plans are
// cached per shape, and these were made under the pin.
void test_matmul_small_m(int64_t m, int64_t n, int64_t k, DType out_dt, bool with_bias) {
  Scope s;
  Dual src = dummy(s, m, k, 53, 1.0f), norm_w = dummy(s, 1, k, 54, 1.0f), x = make(s, m, k);
  Dual w = dummy(s, n, k, 55, 0.05f), bias = dummy(s, 1, n, 56, 0.5f);
  Dual out = make(s, m, n, out_dt);
  auto* cuda = static_cast<CudaBackend*>(G);
  cuda->set_gemm_kernel(CudaBackend::GemmKernel::SmallM);
  G->fill(out.g, NAN);
  G->fill(x.g, NAN);
  G->rmsnorm(x.g, src.g, norm_w.g, 1e-5f);
  G->matmul(out.g, x.g, w.g, with_bias ? &bias.g : nullptr);
  cuda->set_gemm_kernel(CudaBackend::GemmKernel::Auto);
  C->rmsnorm(x.c, src.c, norm_w.c, 1e-5f);
  C->matmul(out.c, x.c, w.c, with_bias ? &bias.c : nullptr);
  const std::string cfg = str({{"M", m}, {"N", n}, {"K", k}, {"bias", with_bias}});
  const auto algos = G->gemm_algos();
  const bool took = std::any_of(algos.begin(), algos.end(), [&](const GemmAlgo& a) {
    return a.m == m && a.n == n && a.k == k && a.kernel == "gpubench_small_m";
  });
  report("matmul small_m path " + cfg, took, took ? "" : "the shape did not run the own kernel");
  // x is rmsnorm's output, rounded to bf16 on the GPU and not on the CPU (test_matmul's x is
  // bf16-exact on both): that rounding alone moves an fp32 out by ~2e-3.
  compare("matmul small_m " + cfg + " out=" + dtype_name(out_dt), out.g, out.c, out_dt == DType::F32 ? 5e-3 : kTol);
}

// inv_freq of the default rope with theta 1e6, on both backends (fp32 on CUDA too).
Dual inv_freq(Scope& s, int64_t head_dim) {
  std::vector<float> f(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) f[i] = (float)std::pow(1e6, -2.0 * i / head_dim);
  return upload(s, 1, head_dim / 2, f, DType::F32);
}

void test_rope(int hq, int hkv, int d, int bs, bool qk_norm, float attn_factor) {
  Scope s;
  const int64_t t = 37, width = (int64_t)(hq + 2 * hkv) * d, blocks = 8;
  Dual qkv = dummy(s, t, width, 60, 1.0f);
  Dual q = cols_view(qkv, 0, hq * d), k = cols_view(qkv, hq * d, hkv * d),
       v = cols_view(qkv, (hq + hkv) * d, hkv * d);
  std::vector<int32_t> slots(blocks * bs);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), gen);
  slots.resize(t);
  DualI32 pos = upload_i32(s, random_ints(t, 0, 100000)), slot = upload_i32(s, slots);
  Dual kc = dummy(s, blocks * hkv * bs, d, 61, 1.0f), vc = dummy(s, blocks * hkv * bs, d, 62, 1.0f);
  Dual inv = inv_freq(s, d), qn = dummy(s, 1, d, 63, 1.0f), kn = dummy(s, 1, d, 64, 1.0f);
  RopeParams rg{static_cast<float*>(inv.g.data), attn_factor, qk_norm ? qn.g.data : nullptr,
                qk_norm ? kn.g.data : nullptr, 1e-6f};
  RopeParams rc{static_cast<float*>(inv.c.data), attn_factor, qk_norm ? qn.c.data : nullptr,
                qk_norm ? kn.c.data : nullptr, 1e-6f};
  const KvLayer kv_g{kc.g.data, vc.g.data, blocks, bs, hkv, d};
  const KvLayer kv_c{kc.c.data, vc.c.data, blocks, bs, hkv, d};
  G->rope_kv_write(q.g, k.g, v.g, width, hq, pos.g, slot.g, rg, kv_g);
  C->rope_kv_write(q.c, k.c, v.c, width, hq, pos.c, slot.c, rc, kv_c);
  const std::string cfg =
      str({{"Hq", hq}, {"Hkv", hkv}, {"D", d}, {"bs", bs}, {"qk_norm", qk_norm}}) +
      " attn_factor=" + std::to_string(attn_factor);
  compare("rope q,k in place " + cfg, qkv.g, qkv.c, kTol);
  compare("rope k cache " + cfg, kc.g, kc.c, kTol);
  compare("rope v cache " + cfg, vc.g, vc.c, kTol);
}

// A paged cache for sequences of the given context lengths, their blocks scattered at random.
struct Paged : BlockTables {
  Dual k, v;
};

Paged make_paged(Scope& s, const std::vector<int>& ctx, int capacity, int hkv, int d, int bs) {
  Paged p;
  static_cast<BlockTables&>(p) = random_block_tables(s, ctx, capacity, bs);
  p.k = dummy(s, p.blocks * hkv * bs, d, 70, 1.0f);
  p.v = dummy(s, p.blocks * hkv * bs, d, 71, 1.0f);
  return p;
}

// Decode (q_lens all 1) or prefill attention; q is a column view of a fused qkv buffer.
void test_attention(const std::string& kind, int hq, int hkv, int d, int bs,
                    const std::vector<int>& q_lens, const std::vector<int>& ctx) {
  Scope s;
  const int n = (int)ctx.size(), capacity = *std::max_element(ctx.begin(), ctx.end());
  std::vector<int32_t> q_start(n + 1, 0);
  for (int i = 0; i < n; ++i) q_start[i + 1] = q_start[i] + q_lens[i];
  const int64_t rows = q_start[n], width = (int64_t)(hq + 2 * hkv) * d;
  Paged p = make_paged(s, ctx, capacity, hkv, d, bs);
  Dual q = cols_view(dummy(s, rows, width, 72, 2.0f), 0, hq * d);
  Dual out = make(s, rows, hq * d);
  DualI32 qs = upload_i32(s, q_start);
  DualI32 cl = upload_i32(s, std::vector<int32_t>(ctx.begin(), ctx.end()));
  const int max_q = *std::max_element(q_lens.begin(), q_lens.end());
  AttnMeta mg{n, max_q, capacity, p.max_blocks_per_seq, qs.g, cl.g, p.table.g};
  AttnMeta mc{n, max_q, capacity, p.max_blocks_per_seq, qs.c, cl.c, p.table.c};
  const float scale = 1.0f / std::sqrt((float)d);
  G->fill(out.g, NAN);
  G->take_kernel_paths();
  G->attention(out.g, q.g, width, hq, KvLayer{p.k.g.data, p.v.g.data, p.blocks, bs, hkv, d}, mg,
               scale);
  // The tensor-core kernels take these head dims and power-of-two blocks; everything else the
  // general kernel (q's row stride, (Hq + 2 Hkv) * d, is then a multiple of 8 as they need).
  const bool fast = (d == 16 || d == 32 || d == 64 || d == 128) && (bs & (bs - 1)) == 0;
  C->attention(out.c, q.c, width, hq, KvLayer{p.k.c.data, p.v.c.data, p.blocks, bs, hkv, d}, mc,
               scale);
  std::string lens;
  for (int i = 0; i < std::min(n, 6); ++i)
    lens += " " + std::to_string(q_lens[i]) + "/" + std::to_string(ctx[i]);
  const std::string cfg = str({{"Hq", hq}, {"Hkv", hkv}, {"D", d}, {"bs", bs}, {"seqs", n}});
  const std::string name = kind + " " + cfg + " q/ctx:" + lens + (n > 6 ? " ..." : "");
  compare(name, out.g, out.c, kTol);
  expect_path(name, "attention", fast ? "fast" : "general");
}

// Decode attention captured once with max_ctx_len 4096, replayed after the device-side
// context lengths change: the grid is fixed, the work follows ctx_len.
void test_attention_graph() {
  Scope s;
  const int hq = 32, hkv = 8, d = 128, bs = 16, n = 2, capacity = 4096;
  Paged p = make_paged(s, {capacity, capacity}, capacity, hkv, d, bs);
  Dual q = dummy(s, n, hq * d, 80, 2.0f), out = make(s, n, hq * d);
  DualI32 qs = upload_i32(s, {0, 1, 2}), cl = upload_i32(s, {1, 1});
  AttnMeta mg{n, 1, capacity, p.max_blocks_per_seq, qs.g, cl.g, p.table.g};
  AttnMeta mc{n, 1, capacity, p.max_blocks_per_seq, qs.c, cl.c, p.table.c};
  const KvLayer kg{p.k.g.data, p.v.g.data, p.blocks, bs, hkv, d};
  const KvLayer kc{p.k.c.data, p.v.c.data, p.blocks, bs, hkv, d};
  const float scale = 1.0f / std::sqrt((float)d);
  G->synchronize();
  G->capture_begin();
  G->attention(out.g, q.g, hq * d, hq, kg, mg, scale);
  Graph graph = G->capture_end();
  for (int ctx : {100, 4000}) {
    const std::vector<int32_t> lens = {ctx, ctx / 2 + 1};
    G->copy_to_device(cl.g, lens.data(), 8);
    C->copy_to_device(cl.c, lens.data(), 8);
    G->fill(out.g, NAN);
    G->graph_replay(graph);
    C->attention(out.c, q.c, hq * d, hq, kc, mc, scale);
    compare("decode attention graph replay " + str({{"captured_max_ctx", capacity}, {"ctx", ctx}}),
            out.g, out.c, kTol);
  }
  G->graph_destroy(graph);
}

void test_swiglu(int64_t rows, int64_t inter) {
  Scope s;
  Dual gu = dummy(s, rows, 2 * inter, 90, 3.0f), out = make(s, rows, inter);
  G->fill(out.g, NAN);
  G->swiglu(out.g, gu.g);
  C->swiglu(out.c, gu.c);
  compare("swiglu " + str({{"rows", rows}, {"I", inter}}), out.g, out.c, kTol);
}

void test_argmax(int64_t cols) {
  Scope s;
  const int64_t rows = 6;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> logits(rows * cols);
  for (auto& x : logits) x = u(gen);
  std::vector<int32_t> expect = random_ints(rows, 0, (int)cols);
  expect[1] = 0;
  expect[2] = (int32_t)cols - 1;
  for (int64_t r = 0; r < rows; ++r) logits[r * cols + expect[r]] = 10.0f + r;
  logits[3 * cols + 5] = logits[3 * cols + cols - 3] = 20.0f;  // a tie: the lower index wins
  expect[3] = 5;
  Dual l = upload(s, rows, cols, logits, DType::F32);
  Tensor out_g{s.alloc(G, rows * 4), DType::I32, 1, rows};
  auto* out_c = static_cast<int32_t*>(s.alloc(C, rows * 4));
  G->fill(out_g, -7.0f);
  G->argmax(static_cast<int32_t*>(out_g.data), l.g);
  C->argmax(out_c, l.c);
  std::vector<int32_t> got(rows);
  G->copy_to_host(got.data(), out_g.data, rows * 4);
  int wrong = 0;
  for (int64_t r = 0; r < rows; ++r) wrong += got[r] != expect[r] || out_c[r] != expect[r];
  report("argmax " + str({{"rows", rows}, {"cols", cols}}), wrong == 0, str({{"wrong", wrong}}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) filter = argv[1];
  if (cuda_device_count() == 0) {
    std::printf("FAIL no CUDA device\n0 passed, 1 failed\n");
    return 1;
  }
  std::unique_ptr<Backend> gpu = make_cuda_backend(0), cpu = make_cpu_backend(0);
  G = gpu.get();
  C = cpu.get();
  const DeviceInfo info = G->device_info();
  std::printf("device: %s (cc %d.%d), %zu MiB free\n", info.name.c_str(), info.cc_major,
              info.cc_minor, info.free_bytes >> 20);

  run("init_dummy", test_init);
  run("fill", test_fill);
  for (auto shape : {std::pair<int64_t, int64_t>{1000, 4096}, {50, 37}})
    run("embedding", [=] { test_embedding(shape.first, shape.second); });
  for (int64_t cols : {4096, 5120, 37}) run("norm", [=] { test_norm(cols); });
  run("matmul", [] { test_matmul(3, 40, 72, DType::BF16, false); });
  run("matmul", [] { test_matmul(1, 4096, 4096, DType::BF16, false); });
  run("matmul", [] { test_matmul(37, 1000, 512, DType::BF16, true); });
  run("matmul", [] { test_matmul(128, 384, 256, DType::BF16, true); });
  run("matmul", [] { test_matmul(5, 1000, 256, DType::F32, false); });
  run("matmul", [] { test_matmul(4, 264, 128, DType::F32, true); });
  run("matmul", [] { test_matmul(1, 40, 72, DType::BF16, true, true); });
  // Decode shapes.
  run("matmul", [] { test_matmul(8, 4096, 4096, DType::BF16, true); });
  run("matmul", [] { test_matmul(2, 1000, 264, DType::F32, true); });
  // Odd widths: 2-byte aligned rows, which cuBLASLt may have no algorithm for (the general GEMM).
  run("matmul", [] { test_matmul(3, 37, 51, DType::BF16, true); });
  run("matmul", [] { test_matmul(17, 101, 33, DType::F32, false); });
  run("matmul", [] { test_matmul(2, 7, 5, DType::BF16, false, true); });
  // The own decode kernel: every M it takes, widths that leave a warp's rows or a lane's chunks
  // partly empty, bias, fp32 out, and a Llama-8B o_proj shape.
  for (int64_t m = 1; m <= 8; ++m)
    run("matmul", [=] { test_matmul_small_m(m, 1003, 776, m % 2 ? DType::BF16 : DType::F32, m % 3 == 0); });
  run("matmul", [] { test_matmul_small_m(1, 4096, 4104, DType::BF16, false); });
  run("matmul", [] { test_matmul_small_m(8, 14336, 4096, DType::BF16, false); });
  run("matmul", [] { test_matmul_small_m(3, 5, 8, DType::F32, true); });
  run("rope", [] { test_rope(8, 2, 128, 16, false, 1.0f); });
  run("rope", [] { test_rope(4, 4, 64, 32, true, 1.0f); });
  run("rope", [] { test_rope(16, 2, 128, 16, true, 1.25f); });
  run("rope", [] { test_rope(4, 2, 16, 16, true, 1.0f); });
  // head_dim 6: an odd number of pairs, so one bf16 per access instead of pairs
  run("rope", [] { test_rope(3, 1, 6, 16, true, 1.0f); });
  run("rope", [] { test_rope(4, 1, 100, 16, true, 1.0f); });
  run("rope", [] { test_rope(6, 2, 2, 16, false, 1.0f); });

  const std::vector<int> decode_ctx = {1, 17, 1000, 5000};
  const std::vector<int> ones(decode_ctx.size(), 1);
  struct Heads { int hq, hkv, d, bs; };
  for (Heads h : {Heads{8, 8, 128, 16}, {32, 8, 128, 16}, {16, 2, 64, 32}, {24, 2, 128, 32},
                  {8, 1, 64, 16}, {8, 4, 32, 16}, {4, 2, 16, 16}, {40, 2, 64, 16}})
    run("decode attention", [&] {
      test_attention("decode attention", h.hq, h.hkv, h.d, h.bs, ones, decode_ctx);
    });
  // 96 x 8 (seq, KV head) CTAs fill the GPU: one split, the decode kernel writes out directly.
  run("decode attention", [] {
    const std::vector<int32_t> ctx = random_ints(96, 1, 200);
    test_attention("decode attention", 32, 8, 128, 16, std::vector<int>(96, 1),
                   std::vector<int>(ctx.begin(), ctx.end()));
  });
  // 64 sequences x 8 KV heads: more CTAs than one wave holds, so the context is split a few
  // ways for full waves and the partials are combined.
  run("decode attention", [] {
    const std::vector<int32_t> ctx = random_ints(64, 500, 1100);
    test_attention("decode attention", 32, 8, 128, 16, std::vector<int>(64, 1),
                   std::vector<int>(ctx.begin(), ctx.end()));
  });
  const std::vector<int> pq = {300, 17, 1, 64, 65, 2}, pctx = {300, 117, 50, 64, 1000, 2};
  for (Heads h : {Heads{8, 8, 128, 16}, {32, 8, 128, 16}, {16, 2, 64, 32}, {12, 4, 64, 16}, {8, 4, 32, 16},
                  {4, 2, 16, 16}})
    run("prefill attention", [&] {
      test_attention("prefill attention", h.hq, h.hkv, h.d, h.bs, pq, pctx);
    });
  run("prefill attention", [] {
    test_attention("prefill attention", 8, 2, 128, 16, {1, 2}, {1, 2});
  });
  // Many key tiles: the cp.async pipeline's steady state, tiles wholly below the diagonal, and a
  // long cached prefix.
  run("prefill attention", [] {
    test_attention("prefill attention", 8, 2, 128, 16, {1000, 700, 130}, {1000, 2000, 130});
  });
  run("prefill attention", [] {
    test_attention("prefill attention", 4, 4, 64, 32, {513, 129}, {600, 1129});
  });
  // The general kernel: head dims the tensor-core kernels do not take (8, 24, 40, open_llama's 100,
  // odd 13 and 1, which the attention op allows though rope needs even), GQA ratios 1 to 7, a block
  // size that is no power of two, decode and prefill, contexts over several 128-key chunks.
  for (Heads h : {Heads{8, 2, 8, 16}, {6, 2, 24, 16}, {10, 5, 40, 16}, {4, 1, 100, 16}, {6, 3, 13, 16},
                  {7, 1, 2, 16}, {3, 3, 1, 8}, {4, 2, 64, 12}, {6, 2, 48, 16}})
    for (bool decode : {true, false}) {
      const char* kind = decode ? "decode attention general" : "prefill attention general";
      run(kind, [&] {
        if (decode) test_attention(kind, h.hq, h.hkv, h.d, h.bs, ones, decode_ctx);
        else test_attention(kind, h.hq, h.hkv, h.d, h.bs, pq, pctx);
      });
    }
  run("graph attention", test_attention_graph);
  run("swiglu", [] { test_swiglu(5, 1000); });
  run("swiglu", [] { test_swiglu(3, 37); });
  run("argmax", [] { test_argmax(32000); });
  run("argmax", [] { test_argmax(32007); });
  run_moe_tests();
  run_mla_tests();
  run_nccl_tests();

  std::printf("%d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}
