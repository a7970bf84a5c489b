// The CUDA MoE ops (backend/cuda/moe.cu) against the CPU's (backend/cpu/moe.cc): the router of
// each model family (ids exact, weights to 1e-5) with its ties, the grouped-GEMM experts on both
// tile shapes and on the routings they must survive (every slot on one expert, unused experts,
// ids outside [0, E)), a CUDA graph replayed with other ids, and qwen2_moe's sigmoid gate.
#include "cuda_test_harness.h"

namespace gpubench::test {

namespace {

std::vector<float> random_floats(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(gen);
  return v;
}

MoeRouteParams route_params(int E, int K, MoeScoring scoring = MoeScoring::Softmax,
                            MoeTopk method = MoeTopk::Greedy, int n_group = 1, int topk_group = 1,
                            bool norm = false, float scale = 1.0f) {
  MoeRouteParams p;
  p.num_experts = E;
  p.top_k = K;
  p.scoring = scoring;
  p.method = method;
  p.n_group = n_group;
  p.topk_group = topk_group;
  p.norm_topk_prob = norm;
  p.routed_scaling_factor = scale;
  return p;
}

// moe_route on both backends: the ids must match exactly (and `expect`, when given), the weights
// to 1e-5. Logits default to U(-3, 3); noaux_tc gets a correction bias of U(-bias, bias).
void test_route(const std::string& name, MoeRouteParams p, int64_t T, std::vector<float> logits = {},
                const std::vector<int32_t>& expect = {}, float bias = 0.2f) {
  Scope s;
  const int E = p.num_experts, K = p.top_k;
  if (logits.empty()) logits = random_floats(T * E, -3.0f, 3.0f);
  Dual l = upload(s, T, E, logits, DType::F32);
  Dual b = upload(s, 1, E, bias > 0 ? random_floats(E, -bias, bias) : std::vector<float>(E, 0.0f), DType::F32);
  MoeRouteParams pg = p, pc = p;
  if (p.method == MoeTopk::NoauxTc) {
    pg.correction_bias = static_cast<const float*>(b.g.data);
    pc.correction_bias = static_cast<const float*>(b.c.data);
  }
  Tensor ids_g{s.alloc(G, T * K * 4), DType::I32, T, K}, w_g{s.alloc(G, T * K * 4), DType::F32, T, K};
  Tensor w_c{s.alloc(C, T * K * 4), DType::F32, T, K};
  auto* ids_c = static_cast<int32_t*>(s.alloc(C, T * K * 4));
  G->fill(ids_g, -7.0f);
  G->fill(w_g, NAN);
  G->moe_route(static_cast<int32_t*>(ids_g.data), static_cast<float*>(w_g.data), l.g, pg);
  C->moe_route(ids_c, static_cast<float*>(w_c.data), l.c, pc);
  std::vector<int32_t> got(T * K);
  G->copy_to_host(got.data(), ids_g.data, T * K * 4);
  int64_t wrong = 0;
  for (int64_t i = 0; i < T * K; ++i)
    wrong += got[i] != ids_c[i] || (!expect.empty() && (got[i] != expect[i] || ids_c[i] != expect[i]));
  const std::string cfg = name + " " + str({{"T", T}, {"E", E}, {"K", K}});
  report("moe_route ids " + cfg, wrong == 0, str({{"wrong", wrong}}));
  compare("moe_route weights " + cfg, w_g, w_c, 1e-5);
}

// Equal scores: the lower expert (and group) index wins, as backend.h specifies.
void test_route_ties() {
  const int E = 8;
  std::vector<float> logits = random_floats(3 * E, -1.0f, 0.0f);
  std::fill(logits.begin(), logits.begin() + E, 1.0f);  // token 0: all equal
  logits[E + 6] = logits[E + 3] = 5.0f;                 // token 1: two equal best
  logits[2 * E + 7] = 4.0f;                             // token 2: one best, then two equal
  logits[2 * E + 5] = logits[2 * E + 1] = 2.0f;
  test_route("ties softmax greedy", route_params(E, 2), 3, logits, {0, 1, 3, 6, 7, 1});
  const std::vector<float> flat(16, 0.5f);
  test_route("ties group_limited_greedy",
             route_params(16, 3, MoeScoring::Softmax, MoeTopk::GroupLimitedGreedy, 4, 2), 1, flat, {0, 1, 2});
  test_route("ties sigmoid noaux_tc",
             route_params(16, 3, MoeScoring::Sigmoid, MoeTopk::NoauxTc, 4, 2, true), 1, flat, {0, 1, 2}, 0.0f);
}

// Ids and weights as the CPU router picks them (a realistic, skewed-by-chance routing).
void routed(int64_t T, int E, int K, std::vector<int32_t>& ids, std::vector<float>& weights) {
  std::vector<float> logits = random_floats(T * E, -3.0f, 3.0f);
  ids.resize(T * K);
  weights.resize(T * K);
  C->moe_route(ids.data(), weights.data(), Tensor{logits.data(), DType::F32, T, E},
               route_params(E, K, MoeScoring::Softmax, MoeTopk::Greedy, 1, 1, true));
}

// The tensors of one moe_experts case on both backends; CUDA's workspace poisoned (NaN, index -7).
struct ExpertsCase {
  int64_t T, E, D, I;
  int K;
  Dual x, gate_up, down, weights, out, rows, h, act;
  DualI32 ids;
  int32_t *index_g, *index_c;

  ExpertsCase(Scope& s, int64_t T_, int64_t E_, int K_, int64_t D_, int64_t I_, const std::vector<int32_t>& id,
              std::vector<float> w, bool accumulate)
      : T(T_), E(E_), D(D_), I(I_), K(K_) {
    const int64_t S = T * K;
    x = upload(s, T, D, random_floats(T * D, -1.0f, 1.0f));
    gate_up = dummy(s, E * 2 * I, D, 100, 0.1f);
    down = dummy(s, E * D, I, 101, 0.1f);
    if (w.empty()) w = random_floats(S, 0.1f, 1.0f);
    weights = upload(s, 1, S, w, DType::F32);
    ids = upload_i32(s, id);
    // Under accumulate out starts at the same values on both, of the size of what is added.
    out = accumulate ? upload(s, T, D, random_floats(T * D, -0.05f, 0.05f)) : make(s, T, D);
    rows = make(s, S, D);
    h = make(s, S, 2 * I);
    act = make(s, S, I);
    for (Tensor t : {rows.g, h.g, act.g}) G->fill(t, NAN);
    const int64_t n = 2 * S + E + 1;
    index_g = static_cast<int32_t*>(s.alloc(G, n * 4));
    index_c = static_cast<int32_t*>(s.alloc(C, n * 4));
    G->fill(Tensor{index_g, DType::I32, 1, n}, -7.0f);
  }

  void run_gpu(bool accumulate) {
    G->moe_experts(out.g, x.g, gate_up.g, down.g, ids.g, static_cast<const float*>(weights.g.data), K,
                   accumulate, MoeWorkspace{rows.g, h.g, act.g, index_g}, 0, E);
  }
  void run_cpu(bool accumulate) {
    C->moe_experts(out.c, x.c, gate_up.c, down.c, ids.c, static_cast<const float*>(weights.c.data), K,
                   accumulate, MoeWorkspace{rows.c, h.c, act.c, index_c}, 0, E);
  }
  std::string cfg() const { return str({{"T", T}, {"E", E}, {"K", K}, {"D", D}, {"I", I}}); }
};

void test_experts(const std::string& name, int64_t T, int64_t E, int K, int64_t D, int64_t I,
                  const std::vector<int32_t>& ids, bool accumulate, std::vector<float> weights = {}) {
  Scope s;
  ExpertsCase c(s, T, E, K, D, I, ids, std::move(weights), accumulate);
  if (!accumulate) G->fill(c.out.g, NAN);
  G->take_kernel_paths();
  c.run_gpu(accumulate);
  c.run_cpu(accumulate);
  const std::string full = "moe_experts " + name + " " + c.cfg() + (accumulate ? " accumulate" : "");
  compare(full, c.out.g, c.out.c, kTol);
  // The tensor-core GEMMs take widths in multiples of 8 (16-byte rows); others the general path.
  expect_path(full, "moe_experts", D % 8 == 0 && I % 8 == 0 ? "fast" : "general");
}

// Ids drawn from `experts` only (the others unused).
std::vector<int32_t> ids_from(size_t n, const std::vector<int32_t>& experts) {
  std::vector<int32_t> v = random_ints(n, 0, (int)experts.size());
  for (auto& x : v) x = experts[x];
  return v;
}

// Expert parallel: the experts [begin, begin + n) of E, each backend holding only their weights;
// the other ranks' slots add nothing.
void test_experts_shard(int64_t T, int64_t E, int64_t begin, int64_t n, int K, int64_t D, int64_t I) {
  Scope s;
  ExpertsCase c(s, T, E, K, D, I, random_ints(T * K, 0, (int)E), {}, false);
  const auto experts = [&](Tensor t, int64_t rows_per_expert) {
    return Tensor{(char*)t.data + begin * rows_per_expert * t.cols * dtype_size(t.dtype), t.dtype, n * rows_per_expert, t.cols};
  };
  G->fill(c.out.g, NAN);
  G->moe_experts(c.out.g, c.x.g, experts(c.gate_up.g, 2 * I), experts(c.down.g, D), c.ids.g,
                 static_cast<const float*>(c.weights.g.data), K, false, MoeWorkspace{c.rows.g, c.h.g, c.act.g, c.index_g},
                 begin, E);
  C->moe_experts(c.out.c, c.x.c, experts(c.gate_up.c, 2 * I), experts(c.down.c, D), c.ids.c,
                 static_cast<const float*>(c.weights.c.data), K, false, MoeWorkspace{c.rows.c, c.h.c, c.act.c, c.index_c},
                 begin, E);
  compare("moe_experts experts [" + std::to_string(begin) + ", " + std::to_string(begin + n) + ") of " + c.cfg(), c.out.g,
          c.out.c, kTol);
}

void test_experts_cases(bool acc) {
  const int64_t E = 8, D = 128, I = 96;
  const int K = 2;
  // T = 1, 3, 37, 100: 16-row tiles (100: several per expert); 300 and 1000 (over 32 slots per
  // expert): 128 x 128 tiles (1000: several per expert, the last one partial).
  for (int64_t T : {1, 3, 37, 100, 300, 1000})
    test_experts("random ids", T, E, K, D, I, random_ints(T * K, 0, E), acc);
  for (int64_t T : {37, 300}) {
    test_experts("every slot on expert 5", T, E, K, D, I, std::vector<int32_t>(T * K, 5), acc);
    test_experts("experts 1,4,6 only", T, E, K, D, I, ids_from(T * K, {1, 4, 6}), acc);
  }
  std::vector<int32_t> ids;
  std::vector<float> w;
  routed(17, 64, 6, ids, w);
  test_experts("routed", 17, 64, 6, 64, 48, ids, acc, w);  // I = 48: a partial k tile and n tile
  routed(5, 128, 8, ids, w);
  test_experts("routed qwen3-like decode", 5, 128, 8, 256, 64, ids, acc, w);
  // Longer reductions than the pipeline's stages, with a partial last k tile (I = 168) and n tile.
  test_experts("random ids", 300, E, K, 256, 168, random_ints(300 * K, 0, E), acc);
  test_experts("random ids", 20, 64, 4, 512, 256, random_ints(20 * 4, 0, 64), acc);
  // The general path: hidden and intermediate sizes that are not multiples of 8 (odd ones too),
  // one expert, top-1, decode and prefill token counts.
  test_experts("general widths", 5, 4, 2, 36, 12, random_ints(5 * 2, 0, 4), acc);
  test_experts("general widths", 37, 3, 1, 13, 7, random_ints(37, 0, 3), acc);
  test_experts("general widths", 300, 8, 2, 20, 30, random_ints(300 * 2, 0, 8), acc);
  test_experts("general widths", 1, 1, 1, 5, 3, {0}, acc);
  test_experts("general widths, experts 1,4 only", 37, 6, 3, 44, 100, ids_from(37 * 3, {1, 4}), acc);
}

// Captured once, replayed with other ids in the same buffer: the sort, the tile lookup and the
// combine all follow the device-side ids. T = 37 (16-row tiles) and 300 (128-row tiles, where
// every slot on one expert needs the most tiles).
void test_experts_graph(int64_t T) {
  Scope s;
  const int64_t E = 8, D = 128, I = 96;
  const int K = 2;
  ExpertsCase c(s, T, E, K, D, I, random_ints(T * K, 0, E), {}, false);
  G->synchronize();
  G->capture_begin();
  c.run_gpu(false);
  Graph graph = G->capture_end();
  const std::vector<std::pair<std::string, std::vector<int32_t>>> routings = {
      {"random ids", random_ints(T * K, 0, E)},
      {"every slot on expert 2", std::vector<int32_t>(T * K, 2)},
      {"experts 0,7 only", ids_from(T * K, {0, 7})}};
  for (const auto& [what, ids] : routings) {
    G->copy_to_device(c.ids.g, ids.data(), ids.size() * 4);
    C->copy_to_device(c.ids.c, ids.data(), ids.size() * 4);
    G->fill(c.out.g, NAN);
    G->graph_replay(graph);
    c.run_cpu(false);
    compare("moe_experts graph replay " + what + " " + c.cfg(), c.out.g, c.out.c, kTol);
  }
  G->graph_destroy(graph);
}

// An id outside [0, E) cannot be refused without a host read: its token's row comes out NaN, the
// others are computed as usual (and nothing is read or written out of bounds).
void test_experts_bad_ids() {
  Scope s;
  const int64_t T = 3, E = 8, D = 128, I = 96;
  const int K = 2;
  ExpertsCase c(s, T, E, K, D, I, {1, 2, 8, 3, -1, 0}, {}, false);
  G->fill(c.out.g, 0.0f);
  c.run_gpu(false);
  const std::vector<float> out = download(G, c.out.g);
  int64_t wrong = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t d = 0; d < D; ++d) wrong += std::isfinite(out[t * D + d]) != (t == 0);
  report("moe_experts ids outside [0, E): those tokens NaN, the others finite", wrong == 0,
         str({{"wrong", wrong}}));
}

void expect_invalid(const std::string& name, const std::function<void()>& fn) {
  bool ok = false;
  try {
    fn();
  } catch (const Error& e) {
    ok = e.code == ErrorCode::InvalidArgument;
  }
  report(name, ok, ok ? "InvalidArgument" : "no InvalidArgument");
}

void test_errors() {
  Scope s;
  Dual logits = upload(s, 2, 8, random_floats(16, -1.0f, 1.0f), DType::F32);
  auto* ids = static_cast<int32_t*>(s.alloc(G, 64 * 4));
  auto* w = static_cast<float*>(s.alloc(G, 64 * 4));
  expect_invalid("moe_route refuses top_k > num_experts",
                 [&] { G->moe_route(ids, w, logits.g, route_params(8, 9)); });
  expect_invalid("moe_route noaux_tc needs the correction bias", [&] {
    G->moe_route(ids, w, logits.g, route_params(8, 2, MoeScoring::Sigmoid, MoeTopk::NoauxTc, 4, 2));
  });
  const int64_t T = 2, E = 2, D = 16, I = 12, K = 2;
  Dual x = make(s, T, D), out = make(s, T, D), gu = make(s, E * 2 * I, D), dn = make(s, E * D, I);
  Dual rows = make(s, T * K, D), h = make(s, T * K, 2 * I), act = make(s, T * K, I);
  expect_invalid("moe_experts refuses a workspace too small for T x top_k slots", [&] {
    G->moe_experts(out.g, x.g, gu.g, dn.g, ids, w, K, false,
                   MoeWorkspace{rows.g.first_rows(1), h.g, act.g, ids}, 0, E);
  });
}

void test_sigmoid_gate(int64_t T, int64_t D) {
  Scope s;
  Dual y = upload(s, T, D, random_floats(T * D, -1.0f, 1.0f));
  Dual x = upload(s, T, D, random_floats(T * D, -1.0f, 1.0f));
  Dual w = dummy(s, 1, D, 110, 0.05f);
  G->sigmoid_gate(y.g, x.g, w.g);
  C->sigmoid_gate(y.c, x.c, w.c);
  compare("sigmoid_gate " + str({{"T", T}, {"D", D}}), y.g, y.c, kTol);
}

}  // namespace

void run_moe_tests() {
  for (int64_t T : {1, 5, 300}) {
    run("moe_route", [=] {
      test_route("mixtral softmax greedy norm",
                 route_params(8, 2, MoeScoring::Softmax, MoeTopk::Greedy, 1, 1, true), T);
      test_route("qwen3_moe softmax greedy norm",
                 route_params(128, 8, MoeScoring::Softmax, MoeTopk::Greedy, 1, 1, true), T);
      test_route("deepseek-v2-lite softmax greedy", route_params(64, 6), T);
      test_route("deepseek-v2 group_limited_greedy",
                 route_params(64, 6, MoeScoring::Softmax, MoeTopk::GroupLimitedGreedy, 8, 3, false, 16.0f), T);
      test_route("deepseek-v3 sigmoid noaux_tc",
                 route_params(256, 8, MoeScoring::Sigmoid, MoeTopk::NoauxTc, 8, 4, true, 2.5f), T);
    });
  }
  run("moe_route", [] { test_route("softmax greedy at the expert limit", route_params(1024, 8), 5); });
  run("moe_route", test_route_ties);
  run("moe_experts", [] { test_experts_cases(false); });
  run("moe_experts", [] { test_experts_cases(true); });
  run("moe_experts", test_experts_bad_ids);
  run("moe_experts", [] {
    test_experts_shard(37, 8, 2, 2, 2, 128, 96);    // fast path, 16-row tiles
    test_experts_shard(300, 8, 4, 4, 2, 128, 96);   // 128 x 128 tiles
    test_experts_shard(20, 8, 6, 2, 2, 36, 12);     // general path
  });
  run("graph moe_experts", [] { test_experts_graph(37); });
  run("graph moe_experts", [] { test_experts_graph(300); });
  run("moe errors", test_errors);
  for (int64_t T : {1, 37}) run("sigmoid_gate", [=] { test_sigmoid_gate(T, 2048); });
}

}  // namespace gpubench::test
