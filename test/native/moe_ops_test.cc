// The CPU backend's MoE ops (backend/cpu/moe.cc) against naive double-precision references written
// here from transformers' modeling code, and the pinned routing policies (core/routing.cc). Outputs
// are poisoned (NaN) first; each op runs with 1 and 3 threads on a small case and one large enough
// to split across the pool. Prints PASS/FAIL lines; exits 1 on any failure.
//
// Build and run from the repository root:
// g++ -std=c++17 -O2 -Wall -Inative test/native/moe_ops_test.cc native/backend/cpu/*.cc native/core/routing.cc -lpthread -o /tmp/moe_ops_test && /tmp/moe_ops_test
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "base/rng.h"
#include "check.h"
#include "core/routing.h"

using namespace gpubench;
using Vec = std::vector<float>;

namespace {

using namespace gpubench_test;  // check, check_close, check_throws, kNaN, random_vec, t32

// ---- moe_route ------------------------------------------------------------------------------

// The k best of candidates by value (descending; the lower index first on ties).
std::vector<int> best(std::vector<int> cand, const std::vector<double>& value, int k) {
  std::stable_sort(cand.begin(), cand.end(), [&](int a, int b) { return value[a] > value[b]; });
  cand.resize(k);
  return cand;
}

// transformers' routers, in double: Mixtral/Qwen (softmax, topk, optional renorm), DeepseekV2
// (group_limited_greedy: groups by their max, others masked), DeepseekV3 (sigmoid + bias, groups by
// the sum of their top-2, weights from the unbiased scores, renorm + 1e-20, scaling).
void route_ref(const float* logits, const MoeRouteParams& p, std::vector<int>& ids, std::vector<double>& w) {
  const int E = p.num_experts;
  std::vector<double> score(E), choice(E);
  double m = *std::max_element(logits, logits + E), sum = 0;
  for (int e = 0; e < E; ++e) {
    score[e] = p.scoring == MoeScoring::Softmax ? std::exp(logits[e] - m) : 1.0 / (1.0 + std::exp(-(double)logits[e]));
    sum += score[e];
  }
  for (int e = 0; e < E; ++e) {
    if (p.scoring == MoeScoring::Softmax) score[e] /= sum;
    choice[e] = score[e] + (p.correction_bias ? p.correction_bias[e] : 0.0);
  }
  std::vector<int> cand;
  if (p.method == MoeTopk::Greedy) {
    cand.resize(E);
    std::iota(cand.begin(), cand.end(), 0);
  } else {
    const int size = E / p.n_group;
    std::vector<double> gs(p.n_group);
    for (int g = 0; g < p.n_group; ++g) {
      std::vector<double> v(choice.begin() + g * size, choice.begin() + (g + 1) * size);
      std::sort(v.rbegin(), v.rend());
      gs[g] = p.method == MoeTopk::NoauxTc ? v[0] + v[1] : v[0];
    }
    std::vector<int> groups(p.n_group);
    std::iota(groups.begin(), groups.end(), 0);
    for (int g : best(groups, gs, p.topk_group))
      for (int i = 0; i < size; ++i) cand.push_back(g * size + i);
  }
  ids = best(cand, choice, p.top_k);
  double total = 0;
  w.clear();
  for (int id : ids) total += score[id];
  for (int id : ids) w.push_back((p.norm_topk_prob ? score[id] / (total + 1e-20) : score[id]) * p.routed_scaling_factor);
}

void test_route(Backend& be, const std::string& name, MoeRouteParams p, int64_t T) {
  const int E = p.num_experts, K = p.top_k;
  Vec logits = random_vec(T * E, 1, 3.0f), bias = random_vec(E, 2, 0.1f);
  if (p.method == MoeTopk::NoauxTc) p.correction_bias = bias.data();
  std::vector<int32_t> ids(T * K, -1);
  Vec w(T * K, kNaN);
  be.moe_route(ids.data(), w.data(), t32(logits, T, E), p);
  std::vector<double> want(T * K);
  bool same_ids = true;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int> rid;
    std::vector<double> rw;
    route_ref(logits.data() + t * E, p, rid, rw);
    for (int k = 0; k < K; ++k) {
      same_ids &= ids[t * K + k] == rid[k];
      want[t * K + k] = rw[k];
    }
  }
  check("moe_route " + name + " ids T=" + std::to_string(T), same_ids);
  check_close("moe_route " + name + " weights T=" + std::to_string(T), w, want);
}

// ---- moe_experts, sigmoid_gate --------------------------------------------------------------

double silu(double g) { return g / (1.0 + std::exp(-g)); }

void test_experts(Backend& be, const std::string& sfx, int64_t T, int64_t D, int64_t I, int64_t E, int K,
                  bool accumulate) {
  Vec x = random_vec(T * D, 3), gu = random_vec(E * 2 * I * D, 4, 0.3f), dn = random_vec(E * D * I, 5, 0.3f);
  Vec w = random_vec(T * K, 6);
  std::vector<int32_t> ids(T * K);
  for (int64_t s = 0; s < T * K; ++s) ids[s] = (int32_t)(hash3(11, 7, s) % E);
  Vec out = accumulate ? random_vec(T * D, 8) : Vec(T * D, kNaN);
  std::vector<double> want(T * D);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t d = 0; d < D; ++d) want[t * D + d] = accumulate ? out[t * D + d] : 0.0;
  for (int64_t t = 0; t < T; ++t)
    for (int k = 0; k < K; ++k) {
      const int64_t e = ids[t * K + k];
      std::vector<double> a(I);
      for (int64_t i = 0; i < I; ++i) {
        double g = 0, u = 0;
        for (int64_t d = 0; d < D; ++d) {
          g += (double)x[t * D + d] * gu[(e * 2 * I + i) * D + d];
          u += (double)x[t * D + d] * gu[(e * 2 * I + I + i) * D + d];
        }
        a[i] = silu(g) * u;
      }
      for (int64_t d = 0; d < D; ++d) {
        double y = 0;
        for (int64_t i = 0; i < I; ++i) y += a[i] * dn[(e * D + d) * I + i];
        want[t * D + d] += w[t * K + k] * y;
      }
    }
  const int64_t S = T * K;
  Vec rows(S * D, kNaN), h(S * 2 * I, kNaN), act(S * I, kNaN);
  std::vector<int32_t> index(2 * S + E + 1, -7);
  MoeWorkspace ws{t32(rows, S, D), t32(h, S, 2 * I), t32(act, S, I), index.data()};
  be.moe_experts(t32(out, T, D), t32(x, T, D), t32(gu, E * 2 * I, D), t32(dn, E * D, I), ids.data(), w.data(), K,
                 accumulate, ws, 0, E);
  check_close("moe_experts T=" + std::to_string(T) + " E=" + std::to_string(E) + " K=" + std::to_string(K) +
                  (accumulate ? " accumulate" : "") + sfx,
              out, want, 2e-5);
  if (accumulate || E < 2) return;
  // Expert parallel: two calls over experts [0, h) and [h, E), each holding only its experts'
  // weights, add up to the call over all of them.
  const int64_t half = E / 2;
  Vec sum(T * D, kNaN), part(T * D, kNaN);
  be.moe_experts(t32(sum, T, D), t32(x, T, D), t32(gu, half * 2 * I, D), t32(dn, half * D, I), ids.data(), w.data(), K,
                 false, ws, 0, E);
  Vec gu_rest(gu.begin() + half * 2 * I * D, gu.end()), dn_rest(dn.begin() + half * D * I, dn.end());
  be.moe_experts(t32(part, T, D), t32(x, T, D), t32(gu_rest, (E - half) * 2 * I, D), t32(dn_rest, (E - half) * D, I),
                 ids.data(), w.data(), K, false, ws, half, E);
  for (int64_t i = 0; i < T * D; ++i) sum[i] += part[i];
  check_close("moe_experts T=" + std::to_string(T) + " E=" + std::to_string(E) + " split over two ranks" + sfx, sum, want, 2e-5);
}

void test_experts_errors(Backend& be) {
  const int64_t T = 2, D = 4, I = 3, E = 2, K = 2;
  Vec x(T * D, 1), gu(E * 2 * I * D, 1), dn(E * D * I, 1), w(T * K, 1), out(T * D), rows(T * K * D), h(T * K * 2 * I),
      act(T * K * I);
  std::vector<int32_t> ids = {0, 1, 1, 2}, index(2 * T * K + E + 1);
  MoeWorkspace ws{t32(rows, T * K, D), t32(h, T * K, 2 * I), t32(act, T * K, I), index.data()};
  check_throws("moe_experts refuses an expert id out of range", ErrorCode::InvalidArgument, [&] {
    be.moe_experts(t32(out, T, D), t32(x, T, D), t32(gu, E * 2 * I, D), t32(dn, E * D, I), ids.data(), w.data(), K, false, ws, 0, E);
  });
  ids[3] = 0;
  MoeWorkspace small{t32(rows, T, D), t32(h, T, 2 * I), t32(act, T, I), index.data()};
  check_throws("moe_experts refuses a small workspace", ErrorCode::InvalidArgument, [&] {
    be.moe_experts(t32(out, T, D), t32(x, T, D), t32(gu, E * 2 * I, D), t32(dn, E * D, I), ids.data(), w.data(), K, false, small, 0, E);
  });
  Vec logits(T * 8, 0.5f);
  std::vector<int32_t> rid(T * 9);
  Vec rw(T * 9);
  MoeRouteParams p;
  p.num_experts = 8;
  p.top_k = 9;
  check_throws("moe_route refuses top_k > num_experts", ErrorCode::InvalidArgument,
               [&] { be.moe_route(rid.data(), rw.data(), t32(logits, T, 8), p); });
  p.top_k = 2;
  p.method = MoeTopk::NoauxTc;
  p.n_group = 3;
  check_throws("moe_route refuses n_group not dividing the experts", ErrorCode::InvalidArgument,
               [&] { be.moe_route(rid.data(), rw.data(), t32(logits, T, 8), p); });
  p.n_group = 4;
  p.topk_group = 2;
  check_throws("moe_route noaux_tc needs the correction bias", ErrorCode::InvalidArgument,
               [&] { be.moe_route(rid.data(), rw.data(), t32(logits, T, 8), p); });
}

void test_sigmoid_gate(Backend& be, const std::string& sfx, int64_t T, int64_t D) {
  Vec y = random_vec(T * D, 9), x = random_vec(T * D, 10), w = random_vec(D, 11, 0.5f);
  std::vector<double> want(T * D);
  for (int64_t t = 0; t < T; ++t) {
    double dot = 0;
    for (int64_t d = 0; d < D; ++d) dot += (double)x[t * D + d] * w[d];
    for (int64_t d = 0; d < D; ++d) want[t * D + d] = y[t * D + d] / (1.0 + std::exp(-dot));
  }
  be.sigmoid_gate(t32(y, T, D), t32(x, T, D), t32(w, 1, D));
  check_close("sigmoid_gate " + std::to_string(T) + "x" + std::to_string(D) + sfx, y, want);
}

// ---- pinned routing -------------------------------------------------------------------------

std::vector<int64_t> load(const std::vector<int32_t>& ids, int64_t E) {
  return expert_load(ids.data(), (int64_t)ids.size(), E);
}

bool distinct_per_token(const std::vector<int32_t>& ids, int64_t K, int64_t E) {
  for (size_t t = 0; t * K < ids.size(); ++t) {
    std::set<int32_t> s(ids.begin() + t * K, ids.begin() + (t + 1) * K);
    if ((int64_t)s.size() != K || *s.begin() < 0 || *s.rbegin() >= E) return false;
  }
  return true;
}

void test_pinned_policies() {
  // The text is parsed in TypeScript (lib/model/moe-routing.ts); the policy checks the parts it gets.
  const std::pair<const char*, double> bad[] = {{"", 0}, {"Balanced", 0}, {"random", 0}, {"zipf", 0}, {"zipf", -1},
                                                {"zipf", INFINITY}, {"zipf", NAN}};
  for (auto [kind, s] : bad) {
    check_throws(std::string("routing_policy refuses '") + kind + "' s=" + std::to_string(s), ErrorCode::InvalidArgument,
                 [&] { routing_policy(kind, s, "x"); });
  }
  const RoutingPolicy zipf = routing_policy("zipf", 1.2, "zipf:1.2");
  check("routing_policy zipf 1.2", zipf.kind == RoutingKind::Zipf && zipf.zipf_s == 1.2 && zipf.text == "zipf:1.2");
  check("routing_policy real is not pinned", !routing_policy("real", 0, "real").pinned() && routing_policy("uniform", 0, "uniform").pinned());

  const int64_t E = 8, K = 2;
  for (int64_t T : {1, 3, 8, 64}) {
    for (int64_t layer : {0, 5}) {
      std::vector<int32_t> ids(T * K);
      Vec w(T * K);
      pin_layer(RoutingPolicy{}, E, K, 42, layer, 3, T, ids.data(), w.data());
      auto c = load(ids, E);
      auto [lo, hi] = std::minmax_element(c.begin(), c.end());
      bool exact = true;
      for (int64_t i = 0; i < T * K; ++i) exact &= ids[i] == (i + layer) % E;
      check("balanced T=" + std::to_string(T) + " layer " + std::to_string(layer) + ": slot i -> (i + layer) mod E",
            exact && *hi - *lo <= 1 && ((T * K) % E || *hi == *lo) && w[0] == 0.5f);
    }
  }
  // Distinct experts per token, deterministic for (seed, layer, step), and shaped as asked.
  for (const RoutingPolicy& p : {routing_policy("uniform", 0, "uniform"), routing_policy("zipf", 1.2, "zipf:1.2"), routing_policy("zipf", 8, "zipf:8")}) {
    for (auto [e, k] : {std::pair<int64_t, int64_t>{8, 2}, {16, 12}, {6, 6}}) {
      const int64_t T = 500;
      std::vector<int32_t> a(T * k), b(T * k), c(T * k);
      Vec w(T * k);
      pin_layer(p, e, k, 42, 1, 7, T, a.data(), w.data());
      pin_layer(p, e, k, 42, 1, 7, T, b.data(), w.data());
      pin_layer(p, e, k, 42, 1, 8, T, c.data(), w.data());
      check(p.text + " E=" + std::to_string(e) + " K=" + std::to_string(k) + ": distinct, repeatable, per step",
            distinct_per_token(a, k, e) && a == b && (k == e || a != c) && w[0] == 1.0f / k);
    }
  }
  const int64_t T = 4000;
  std::vector<int32_t> ids(T * K);
  Vec w(T * K);
  pin_layer(routing_policy("uniform", 0, "uniform"), E, K, 42, 0, 0, T, ids.data(), w.data());
  auto u = load(ids, E);
  check("uniform: every expert near T*K/E", std::all_of(u.begin(), u.end(), [&](int64_t n) { return std::abs(n - T * K / E) < T * K / E / 8; }));
  pin_layer(zipf, E, K, 42, 0, 0, T, ids.data(), w.data());
  auto z = load(ids, E);
  std::sort(z.rbegin(), z.rend());
  check("zipf:1.2: skewed (the top expert > 2x the mean, the last < half of it)", z[0] > 2 * T * K / E && z[E - 1] < T * K / E / 2);
}

}  // namespace

int main() {
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    std::string sfx = " (threads " + std::to_string(threads) + ")";
    for (int64_t T : {5, 700}) {
      MoeRouteParams mixtral;  // softmax, greedy, renormalized
      mixtral.num_experts = 8, mixtral.top_k = 2, mixtral.norm_topk_prob = true;
      test_route(*be, "softmax greedy norm" + sfx, mixtral, T);
      MoeRouteParams qwen2;  // softmax, greedy, raw probabilities
      qwen2.num_experts = 60, qwen2.top_k = 4;
      test_route(*be, "softmax greedy" + sfx, qwen2, T);
      MoeRouteParams v2;  // deepseek_v2
      v2.num_experts = 64, v2.top_k = 6, v2.method = MoeTopk::GroupLimitedGreedy, v2.n_group = 8, v2.topk_group = 3;
      v2.routed_scaling_factor = 16.0f;
      test_route(*be, "group_limited_greedy" + sfx, v2, T);
      MoeRouteParams v3;  // deepseek_v3
      v3.num_experts = 64, v3.top_k = 8, v3.scoring = MoeScoring::Sigmoid, v3.method = MoeTopk::NoauxTc;
      v3.n_group = 8, v3.topk_group = 4, v3.norm_topk_prob = true, v3.routed_scaling_factor = 2.5f;
      test_route(*be, "sigmoid noaux_tc" + sfx, v3, T);
    }
    for (bool acc : {false, true}) {
      test_experts(*be, sfx, 13, 24, 10, 5, 3, acc);
      test_experts(*be, sfx, 1, 24, 10, 5, 2, acc);
      test_experts(*be, sfx, 150, 64, 48, 16, 4, acc);
    }
    test_sigmoid_gate(*be, sfx, 7, 33);
    test_sigmoid_gate(*be, sfx, 300, 128);
  }
  auto be = make_cpu_backend(2);
  test_experts_errors(*be);
  test_pinned_policies();
  return gpubench_test::summary();
}
