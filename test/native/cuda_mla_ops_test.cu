// The MLA ops of the CUDA backend (matmul_heads, mla_rope_kv_write, mla_attention, and the
// decompressed form's attention_dense) against the CPU backend's (backend/cpu/mla.cc,
// attention_dense.cc) on the same inputs, through the views attention_mla.cc passes:
// q_nope / q_pe inside q [T, H*(nope+R)], W_UK / W_UV inside kv_b_proj [H*(nope+V), L]. Shapes of
// DeepSeek-V2-Lite (H 16, nope 128, R 64, L 512, V 128), V3 (H 128) and the tiny test models
// (test/fixtures: H 4, nope 16, R 8, L 32, V 12). Run from main() in cuda_ops_test.cu.
#include "cuda_test_harness.h"

namespace gpubench::test {

namespace {

using Slices = Backend::HeadSlices;

// Per-head slices of a row-major [rows, heads * head_stride] buffer, `cols` wide from `offset`
// (attention_mla.cc's heads()).
Slices heads(Tensor t, int64_t h, int64_t head_stride, int64_t offset, int64_t cols) {
  return {
      (char*)t.data + offset * dtype_size(t.dtype), t.dtype, t.rows, h, cols, t.cols, head_stride};
}

// W_UK (first) or W_UV of every head inside kv_b_proj [H*(nope+V), L].
Slices kv_b_slices(Tensor w, int64_t h, int64_t nope, int64_t v, int64_t latent, bool uv) {
  const int64_t offset = uv ? nope * latent : 0;
  return {(char*)w.data + offset * dtype_size(w.dtype), w.dtype, uv ? v : nope, h, latent, latent,
          (nope + v) * latent};
}

std::string mla_shape(int64_t h, int64_t nope, int64_t r, int64_t l) {
  return str({{"H", h}, {"nope", nope}, {"R", r}, {"L", l}});
}

// Both matmul_heads of a layer: q_latent = W_UK^T q_nope (transpose_w) and out = W_UV latent.
void test_matmul_heads(int64_t t, int64_t h, int64_t nope, int64_t r, int64_t l, int64_t v) {
  Scope s;
  const std::string cfg = str({{"T", t}}) + " " + mla_shape(h, nope, r, l) + " " + str({{"V", v}});
  Dual q = dummy(s, t, h * (nope + r), 100, 1.0f);
  Dual w = dummy(s, h * (nope + v), l, 101, 0.05f);
  Dual q_latent = make(s, t, h * l);
  G->fill(q_latent.g, NAN);
  G->matmul_heads(heads(q_latent.g, h, l, 0, l), heads(q.g, h, nope + r, 0, nope),
                  kv_b_slices(w.g, h, nope, v, l, false), true);
  C->matmul_heads(heads(q_latent.c, h, l, 0, l), heads(q.c, h, nope + r, 0, nope),
                  kv_b_slices(w.c, h, nope, v, l, false), true);
  compare("matmul_heads w_uk transpose_w " + cfg, q_latent.g, q_latent.c, kTol);

  Dual latent = dummy(s, t, h * l, 102, 1.0f);
  Dual out = make(s, t, h * v);
  G->fill(out.g, NAN);
  G->matmul_heads(heads(out.g, h, v, 0, v), heads(latent.g, h, l, 0, l),
                  kv_b_slices(w.g, h, nope, v, l, true), false);
  C->matmul_heads(heads(out.c, h, v, 0, v), heads(latent.c, h, l, 0, l),
                  kv_b_slices(w.c, h, nope, v, l, true), false);
  compare("matmul_heads w_uv " + cfg, out.g, out.c, kTol);
}

// inv_freq of DeepSeek's rope (theta 1e4) over the R rope dims, fp32 on both backends.
Dual inv_freq(Scope& s, int64_t r) {
  std::vector<float> f(r / 2);
  for (int64_t i = 0; i < r / 2; ++i) f[i] = (float)std::pow(1e4, -2.0 * i / r);
  return upload(s, 1, r / 2, f, DType::F32);
}

// The cache write and q_pe rotation. Every 7th token has slot -1 on CUDA (not stored); the CPU
// op takes no negative slot, so its pool has T spare rows past the compared ones and those
// tokens write there. Both pools start from the same dummy values, so rows nobody writes compare
// equal, and the whole CUDA pool is compared.
void test_mla_rope(int64_t t, int64_t h, int64_t nope, int64_t r, int64_t l, int bs, bool k_norm,
                   float attn_factor) {
  Scope s;
  const int64_t d = l + r, blocks = (t + bs - 1) / bs + 3, slots_g = blocks * bs;
  const int64_t spare_blocks = (t + bs - 1) / bs;
  Dual q = dummy(s, t, h * (nope + r), 110, 1.0f);
  Dual kv_a = dummy(s, t, d, 111, 2.0f);
  Tensor pool_g{s.alloc(G, slots_g * d * 2), DType::BF16, slots_g, d};
  Tensor pool_c{s.alloc(C, (blocks + spare_blocks) * bs * d * 4), DType::F32,
                (blocks + spare_blocks) * bs, d};
  G->init_dummy(pool_g, 7, 112, 1.0f);
  C->init_dummy(pool_c, 7, 112, 1.0f);
  std::vector<int32_t> order(slots_g);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), gen);
  std::vector<int32_t> sg(order.begin(), order.begin() + t), sc = sg;
  for (int64_t i = 3; i < t; i += 7) {
    sg[i] = -1;
    sc[i] = (int32_t)(slots_g + i);
  }
  DualI32 pos = upload_i32(s, random_ints(t, 0, 100000));
  DualI32 slot_g = upload_i32(s, sg), slot_c = upload_i32(s, sc);
  Dual inv = inv_freq(s, r), norm = dummy(s, 1, l, 113, 1.0f);
  const RopeParams rg{static_cast<float*>(inv.g.data), attn_factor, nullptr,
                      k_norm ? norm.g.data : nullptr, 1e-6f};
  const RopeParams rc{static_cast<float*>(inv.c.data), attn_factor, nullptr,
                      k_norm ? norm.c.data : nullptr, 1e-6f};
  G->mla_rope_kv_write(heads(q.g, h, nope + r, nope, r), kv_a.g, pos.g, slot_g.g, rg,
                       KvLayer{pool_g.data, nullptr, blocks, bs, 1, d});
  C->mla_rope_kv_write(heads(q.c, h, nope + r, nope, r), kv_a.c, pos.c, slot_c.c, rc,
                       KvLayer{pool_c.data, nullptr, blocks + spare_blocks, bs, 1, d});
  const std::string cfg = str({{"T", t}}) + " " + mla_shape(h, nope, r, l) + " " +
                          str({{"bs", bs}, {"k_norm", k_norm}}) +
                          " attn_factor=" + std::to_string(attn_factor);
  compare("mla_rope_kv_write q in place " + cfg, q.g, q.c, kTol);
  compare("mla_rope_kv_write cache " + cfg, pool_g, pool_c.first_rows(slots_g), kTol);
}

// A paged MLA cache (one KV head of L + R) for sequences of the given context lengths, their
// blocks scattered at random.
struct MlaCache : BlockTables {
  Dual pool;
};

MlaCache make_cache(Scope& s, const std::vector<int>& ctx, int capacity, int64_t d, int bs) {
  MlaCache p;
  static_cast<BlockTables&>(p) = random_block_tables(s, ctx, capacity, bs);
  p.pool = dummy(s, p.blocks * bs, d, 120, 1.0f);
  return p;
}

// The inputs of one mla_attention call on both backends: q_latent [rows, H*L], q_pe inside a q
// buffer [rows, H*(nope+R)], the cache and the step's metadata.
struct MlaStep {
  int64_t h, nope, r, l;
  int bs;
  MlaCache cache;
  Dual q_latent, q, out;
  DualI32 q_start, ctx_len;
  AttnMeta mg, mc;
  float scale;

  KvLayer kv(bool gpu) const {
    return KvLayer{
        gpu ? cache.pool.g.data : cache.pool.c.data, nullptr, cache.blocks, bs, 1, l + r};
  }
  Slices q_pe(bool gpu) const { return heads(gpu ? q.g : q.c, h, nope + r, nope, r); }
  void run_gpu() const { G->mla_attention(out.g, q_latent.g, q_pe(true), kv(true), mg, scale); }
  void run_cpu() const { C->mla_attention(out.c, q_latent.c, q_pe(false), kv(false), mc, scale); }
};

MlaStep make_step(Scope& s, int64_t h, int64_t l, int64_t r, int bs, const std::vector<int>& q_lens,
                  const std::vector<int>& ctx, int capacity) {
  const int64_t nope = 128;
  MlaStep st{h, nope, r, l, bs};
  const int n = (int)ctx.size();
  std::vector<int32_t> q_start(n + 1, 0);
  for (int i = 0; i < n; ++i) q_start[i + 1] = q_start[i] + q_lens[i];
  const int64_t rows = q_start[n];
  st.cache = make_cache(s, ctx, capacity, l + r, bs);
  st.q_latent = dummy(s, rows, h * l, 121, 2.0f);
  st.q = dummy(s, rows, h * (nope + r), 122, 2.0f);
  st.out = make(s, rows, h * l);
  st.q_start = upload_i32(s, q_start);
  st.ctx_len = upload_i32(s, std::vector<int32_t>(ctx.begin(), ctx.end()));
  const int max_q = *std::max_element(q_lens.begin(), q_lens.end());
  const int mb = st.cache.max_blocks_per_seq;
  st.mg = AttnMeta{n, max_q, capacity, mb, st.q_start.g, st.ctx_len.g, st.cache.table.g};
  st.mc = AttnMeta{n, max_q, capacity, mb, st.q_start.c, st.ctx_len.c, st.cache.table.c};
  st.scale = 1.0f / std::sqrt((float)(nope + r));  // qk_head_dim^-0.5, as the model's
  return st;
}

// Decode (q_lens all 1) or prefill (q_len rows at the end of each context).
void test_mla_attention(const std::string& kind, int64_t h, int64_t l, int64_t r, int bs,
                        const std::vector<int>& q_lens, const std::vector<int>& ctx) {
  Scope s;
  const int capacity = *std::max_element(ctx.begin(), ctx.end());
  const MlaStep st = make_step(s, h, l, r, bs, q_lens, ctx, capacity);
  G->fill(st.out.g, NAN);
  G->take_kernel_paths();
  st.run_gpu();
  st.run_cpu();
  std::string lens;
  for (size_t i = 0; i < std::min<size_t>(ctx.size(), 6); ++i)
    lens += " " + std::to_string(q_lens[i]) + "/" + std::to_string(ctx[i]);
  const std::string name = "mla " + kind + " " +
                           str({{"H", h}, {"L", l}, {"R", r}, {"bs", bs}, {"seqs", (int64_t)ctx.size()}}) +
                           " q/ctx:" + lens + (ctx.size() > 6 ? " ..." : "");
  compare(name, st.out.g, st.out.c, kTol);
  // The tensor-core kernel takes latents in 16-dim steps up to 512, rope dims in 8s and
  // power-of-two blocks; everything else the general kernel.
  const bool fast = l % 16 == 0 && l <= 512 && r % 8 == 0 && (bs & (bs - 1)) == 0;
  expect_path(name, "mla_attention", fast ? "fast" : "general");
}

// Decode captured once with max_ctx_len 4096, replayed after the device-side context lengths
// change: the grid is fixed, the work follows ctx_len.
void test_mla_attention_graph(int64_t h) {
  Scope s;
  const int capacity = 4096;
  const MlaStep st = make_step(s, h, 512, 64, 16, {1, 1}, {capacity, capacity}, capacity);
  const std::vector<int32_t> first = {1, 1};
  G->copy_to_device(st.ctx_len.g, first.data(), 8);
  G->synchronize();
  G->capture_begin();
  st.run_gpu();
  Graph graph = G->capture_end();
  for (int ctx : {100, 4000, 4096}) {
    const std::vector<int32_t> lens = {ctx, ctx / 2 + 1};
    G->copy_to_device(st.ctx_len.g, lens.data(), 8);
    C->copy_to_device(st.ctx_len.c, lens.data(), 8);
    G->fill(st.out.g, NAN);
    G->graph_replay(graph);
    st.run_cpu();
    compare(
        "mla decode graph replay " + str({{"H", h}, {"captured_max_ctx", capacity}, {"ctx", ctx}}),
        st.out.g, st.out.c, kTol);
  }
  G->graph_destroy(graph);
}

// attention_dense over the step's own rows, through the views of attention_mla.cc's decompressed
// form: q [T, H*(nope+R)], k_nope and v inside the up-projected [T, H*(nope+V)], and k_pe shared by
// every head (head_stride 0) at column L of the gathered cache rows [T, L+R]. Fresh prefills of
// the given lengths; `fast`: the tensor-core kernels take the shape.
void test_attention_dense(int64_t h, int64_t nope, int64_t r, int64_t v, int64_t l, const std::vector<int>& q_lens,
                          bool fast) {
  Scope s;
  const int n = (int)q_lens.size();
  std::vector<int32_t> q_start(n + 1, 0);
  for (int i = 0; i < n; ++i) q_start[i + 1] = q_start[i] + q_lens[i];
  const int64_t t = q_start[n], w = h * (nope + v);
  Dual q = dummy(s, t, h * (nope + r), 130, 2.0f);
  Dual kv = dummy(s, t, w, 131, 2.0f);
  Dual rows = dummy(s, t, l + r, 132, 2.0f);
  Dual out = make(s, t, h * v);
  DualI32 starts = upload_i32(s, q_start), ctx = upload_i32(s, std::vector<int32_t>(q_lens.begin(), q_lens.end()));
  const int max_q = *std::max_element(q_lens.begin(), q_lens.end());
  const AttnMeta mg{n, max_q, max_q, 0, starts.g, ctx.g, nullptr}, mc{n, max_q, max_q, 0, starts.c, ctx.c, nullptr};
  const float scale = 1.0f / std::sqrt((float)(nope + r));
  auto call = [&](Backend* b, Tensor o, Tensor qt, Tensor kvt, Tensor rt, const AttnMeta& m) {
    b->attention_dense(heads(o, h, v, 0, v), heads(qt, h, nope + r, 0, nope + r), heads(kvt, h, nope + v, 0, nope),
                       heads(rt, h, 0, l, r), heads(kvt, h, nope + v, nope, v), m, scale);
  };
  G->fill(out.g, NAN);
  G->take_kernel_paths();
  call(G, out.g, q.g, kv.g, rows.g, mg);
  call(C, out.c, q.c, kv.c, rows.c, mc);
  std::string lens;
  for (size_t i = 0; i < std::min<size_t>(q_lens.size(), 6); ++i) lens += " " + std::to_string(q_lens[i]);
  const std::string name = "attention_dense " + str({{"H", h}, {"nope", nope}, {"R", r}, {"V", v}, {"L", l}}) + " q:" + lens;
  compare(name, out.g, out.c, kTol);
  expect_path(name, "attention_dense", fast ? "fast" : "general");
}

}  // namespace

void run_mla_tests() {
  // Prefill and decode token counts; V2-Lite, V3 and the tiny models' dims.
  for (int64_t t : {1, 5, 37}) {
    run("matmul_heads", [=] { test_matmul_heads(t, 16, 128, 64, 512, 128); });
    run("matmul_heads", [=] { test_matmul_heads(t, 4, 16, 8, 32, 12); });
  }
  run("matmul_heads", [] { test_matmul_heads(300, 16, 128, 64, 512, 128); });
  run("matmul_heads", [] { test_matmul_heads(3, 128, 128, 64, 512, 128); });
  run("matmul_heads", [] { test_matmul_heads(37, 4, 16, 16, 32, 16); });
  // Ranks and head dims of any size: odd strides, which cuBLASLt may leave to the general GEMM.
  run("matmul_heads", [] { test_matmul_heads(5, 3, 13, 6, 24, 7); });
  run("matmul_heads", [] { test_matmul_heads(37, 4, 128, 64, 24, 128); });
  run("matmul_heads", [] { test_matmul_heads(2, 2, 1, 2, 1, 1); });

  run("mla_rope", [] { test_mla_rope(37, 16, 128, 64, 512, 16, true, 1.0f); });
  run("mla_rope", [] { test_mla_rope(37, 16, 128, 64, 512, 64, false, 1.0f); });
  run("mla_rope", [] { test_mla_rope(300, 128, 128, 64, 512, 16, true, 1.3f); });
  run("mla_rope", [] { test_mla_rope(1, 16, 128, 64, 512, 16, true, 1.0f); });
  run("mla_rope", [] { test_mla_rope(37, 4, 16, 8, 32, 16, true, 1.0f); });
  run("mla_rope", [] { test_mla_rope(5, 4, 16, 16, 32, 4, false, 1.0f); });
  run("mla_rope", [] { test_mla_rope(37, 4, 16, 32, 24, 16, true, 1.0f); });
  run("mla_rope", [] { test_mla_rope(5, 3, 13, 2, 5, 16, true, 1.0f); });

  const std::vector<int> decode_ctx = {1, 17, 1000, 5000};
  const std::vector<int> ones(decode_ctx.size(), 1);
  struct Dims {
    int64_t h, l, r;
    int bs;
  };
  for (Dims d : {Dims{16, 512, 64, 16}, {16, 512, 64, 64}, {4, 512, 64, 16}, {128, 512, 64, 16},
                 {4, 32, 16, 16}, {4, 32, 8, 16}, {8, 64, 16, 32}, {16, 128, 64, 16}})
    run("mla decode", [&] { test_mla_attention("decode", d.h, d.l, d.r, d.bs, ones, decode_ctx); });
  // Enough sequences that one split per CTA fills the GPU: the kernel writes out directly.
  run("mla decode", [] {
    const std::vector<int32_t> ctx = random_ints(160, 1, 64);
    test_mla_attention("decode", 16, 512, 64, 16, std::vector<int>(160, 1),
                       std::vector<int>(ctx.begin(), ctx.end()));
  });
  const std::vector<int> pq = {300, 17, 1, 64}, pctx = {300, 117, 50, 1064};
  for (Dims d :
       {Dims{16, 512, 64, 16}, {4, 512, 64, 16}, {4, 32, 16, 16}, {4, 32, 8, 16}, {8, 64, 16, 32}})
    run("mla prefill", [&] { test_mla_attention("prefill", d.h, d.l, d.r, d.bs, pq, pctx); });
  run("mla prefill",
      [] { test_mla_attention("prefill", 128, 512, 64, 16, {64, 17, 1}, {100, 300, 50}); });
  // At most 16 (row, head) pairs per sequence: one M tile of 16 holds several rows.
  run("mla prefill", [] { test_mla_attention("prefill", 4, 32, 8, 16, {4, 2, 1}, {4, 100, 7}); });
  // Many M tiles and chunks: a long fresh prefill beside a long cached prefix.
  run("mla prefill",
      [] { test_mla_attention("prefill", 16, 512, 64, 16, {700, 130}, {700, 1130}); });
  // The general kernel: kv_lora_rank 24 (not a multiple of 16), odd ranks, rope dims 2, 6 and 32
  // (32 with rank 24: the cache row is 56 wide), a rank over 512, a block size that is no power of
  // two; DeepSeek's rope 64 beside them.
  for (Dims d : {Dims{4, 24, 32, 16}, {8, 24, 64, 16}, {3, 5, 2, 16}, {4, 40, 6, 16}, {16, 512, 64, 12},
                 {4, 520, 64, 16}, {2, 1, 2, 8}})
    for (bool decode : {true, false}) {
      const char* kind = decode ? "mla decode general" : "mla prefill general";
      run(kind, [&] {
        if (decode) test_mla_attention("decode general", d.h, d.l, d.r, d.bs, ones, decode_ctx);
        else test_mla_attention("prefill general", d.h, d.l, d.r, d.bs, pq, pctx);
      });
    }
  // The decompressed form: DeepSeek's qk 192 / v 128 (V2-Lite's 16 heads, V3's 128) and the tiny
  // presets' 48 / 32 on the tensor cores; the fixtures' 24 / 12, odd dims and a k_pe that is not on
  // 16 bytes (latent 20) on the general kernel. Long and short prompts, one of a single token.
  const std::vector<int> dq = {300, 17, 1, 64};
  run("attention_dense", [&] { test_attention_dense(16, 128, 64, 128, 512, dq, true); });
  run("attention_dense", [] { test_attention_dense(16, 128, 64, 128, 512, {700, 130}, true); });
  run("attention_dense", [] { test_attention_dense(128, 128, 64, 128, 512, {64, 17, 1}, true); });
  run("attention_dense", [&] { test_attention_dense(8, 32, 16, 32, 64, dq, true); });
  run("attention_dense general", [&] { test_attention_dense(4, 16, 8, 12, 32, dq, false); });
  run("attention_dense general", [] { test_attention_dense(3, 13, 6, 9, 11, {5, 40, 1}, false); });
  run("attention_dense general", [&] { test_attention_dense(16, 128, 64, 128, 20, dq, false); });
  run("mla graph", [] { test_mla_attention_graph(16); });
  run("mla graph", [] { test_mla_attention_graph(128); });
}

}  // namespace gpubench::test
