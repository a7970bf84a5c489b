// moe: the mixture-of-experts ops. moe_route picks each token's experts from the router logits as
// Hugging Face does (see MoeRouteParams); moe_experts runs the picked SwiGLU experts over their
// tokens, grouped by expert so each expert's weights stream once per step (the way grouped-GEMM MoE
// kernels do); sigmoid_gate scales qwen2_moe's shared expert.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

namespace {

// The first n of idx, ordered by value descending (the lower index first on ties).
void top_n(std::vector<int>& idx, const float* value, int n) {
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                    [&](int a, int b) { return value[a] > value[b] || (value[a] == value[b] && a < b); });
}

// Per-thread scratch of route_token.
struct RouteScratch {
  std::vector<float> score, choice, group_score;
  std::vector<int> idx, groups;
};

// One token's routing: scores, the experts allowed by group selection, the top_k, their weights.
void route_token(const float* logits, const MoeRouteParams& p, int32_t* ids, float* weights, RouteScratch& r) {
  const int E = p.num_experts, K = p.top_k;
  std::vector<float>& score = r.score;
  std::vector<float>& choice = r.choice;
  std::vector<int>& idx = r.idx;
  score.resize(E);
  choice.resize(E);
  if (p.scoring == MoeScoring::Softmax) {
    float m = *std::max_element(logits, logits + E), sum = 0.0f;
    for (int e = 0; e < E; ++e) sum += score[e] = std::exp(logits[e] - m);
    for (int e = 0; e < E; ++e) score[e] /= sum;
  } else {
    for (int e = 0; e < E; ++e) score[e] = 1.0f / (1.0f + std::exp(-logits[e]));
  }
  for (int e = 0; e < E; ++e) choice[e] = p.correction_bias ? score[e] + p.correction_bias[e] : score[e];

  idx.clear();
  if (p.method == MoeTopk::Greedy) {
    for (int e = 0; e < E; ++e) idx.push_back(e);
  } else {
    // Rank the groups (deepseek_v2: by their best expert; deepseek_v3: by the sum of their best two),
    // keep the topk_group best, and choose only among their experts.
    const int G = p.n_group, size = E / G;
    r.groups.resize(G);
    r.group_score.resize(G);
    for (int g = 0; g < G; ++g) {
      const float* c = choice.data() + g * size;
      float best = -INFINITY, second = -INFINITY;
      for (int i = 0; i < size; ++i) {
        if (c[i] > best) { second = best; best = c[i]; } else if (c[i] > second) second = c[i];
      }
      r.group_score[g] = p.method == MoeTopk::NoauxTc ? best + second : best;
      r.groups[g] = g;
    }
    top_n(r.groups, r.group_score.data(), p.topk_group);
    for (int j = 0; j < p.topk_group; ++j)
      for (int i = 0; i < size; ++i) idx.push_back(r.groups[j] * size + i);
  }
  top_n(idx, choice.data(), K);

  float sum = 0.0f;
  for (int k = 0; k < K; ++k) {
    ids[k] = idx[k];
    sum += weights[k] = score[idx[k]];  // the unbiased score, also under noaux_tc
  }
  // + 1e-20 as deepseek_v3 writes it: bit-identical to the plain sum of the other models, whose
  // sums are far above 1e-13 (below which 1e-20 would be more than half an ulp).
  for (int k = 0; k < K; ++k) {
    if (p.norm_topk_prob) weights[k] /= sum + 1e-20f;
    weights[k] *= p.routed_scaling_factor;
  }
}

}  // namespace

void CpuBackend::moe_route(int32_t* topk_ids, float* topk_weights, Tensor router_logits, const MoeRouteParams& p) {
  check_f32("moe_route", "router_logits", router_logits);
  check_route_params(router_logits, p);
  pool_.parallel_for(router_logits.rows, [&](int64_t begin, int64_t end) {
    thread_local RouteScratch scratch;
    for (int64_t t = begin; t < end; ++t) {
      route_token(static_cast<const float*>(router_logits.row(t).data), p, topk_ids + t * p.top_k,
                  topk_weights + t * p.top_k, scratch);
    }
  }, grain_for(8 * p.num_experts));
}

void CpuBackend::moe_experts(Tensor out, Tensor x, Tensor gate_up, Tensor down, const int32_t* topk_ids,
                             const float* topk_weights, int top_k, bool accumulate, const MoeWorkspace& ws,
                             int64_t expert_begin, int64_t num_experts) {
  const char* op = "moe_experts";
  for (auto [what, t] : {std::pair<const char*, const Tensor*>{"out", &out}, {"x", &x}, {"gate_up", &gate_up},
                         {"down", &down}, {"ws.rows", &ws.rows}, {"ws.gate_up", &ws.gate_up}, {"ws.act", &ws.act}})
    check_f32(op, what, *t);
  const int64_t E = check_moe_experts(out, x, gate_up, down, top_k, ws, expert_begin, num_experts);
  const int64_t T = x.rows, D = x.cols, I = down.cols, K = top_k, S = T * K;
  // This call's expert of a slot, or -1 where another rank holds it.
  const auto local = [&](int64_t s) {
    const int64_t e = topk_ids[s] - expert_begin;
    return e >= 0 && e < E ? e : -1;
  };

  // Counting sort of this call's slots (token t, choice k) = t*K + k by expert: order[j] is the slot
  // at sorted position j, pos[slot] its position (-1: another rank's expert), and expert e owns
  // positions [offsets[e], offsets[e+1]).
  int32_t* order = ws.index;
  int32_t* pos = order + S;
  int32_t* offsets = pos + S;
  std::fill(offsets, offsets + E + 1, 0);
  for (int64_t s = 0; s < S; ++s) {
    if (topk_ids[s] < 0 || topk_ids[s] >= num_experts) invalid(op, "expert id ", topk_ids[s], " is not in [0, ", num_experts, ")");
    if (local(s) >= 0) ++offsets[local(s) + 1];
  }
  for (int64_t e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
  for (int64_t s = 0; s < S; ++s) {
    if (local(s) < 0) {
      pos[s] = -1;
      continue;
    }
    int32_t j = offsets[local(s)]++;
    order[j] = (int32_t)s;
    pos[s] = j;
  }
  for (int64_t e = E; e > 0; --e) offsets[e] = offsets[e - 1];  // undo the cursor shift
  offsets[0] = 0;

  float* rows = static_cast<float*>(ws.rows.data);
  pool_.parallel_for(offsets[E], [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
      std::memcpy(rows + j * D, x.row(order[j] / K).data, (size_t)D * sizeof(float));
  }, grain_for(D));

  // Each expert over its block of rows; its output overwrites its inputs, which are no longer needed.
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n = offsets[e + 1] - offsets[e], off = offsets[e];
    if (n == 0) continue;
    Tensor xr{rows + off * D, DType::F32, n, D};
    Tensor h{static_cast<float*>(ws.gate_up.data) + off * 2 * I, DType::F32, n, 2 * I};
    Tensor a{static_cast<float*>(ws.act.data) + off * I, DType::F32, n, I};
    matmul(h, xr, Tensor{static_cast<float*>(gate_up.data) + e * 2 * I * D, DType::F32, 2 * I, D}, nullptr);
    swiglu(a, h);
    matmul(xr, a, Tensor{static_cast<float*>(down.data) + e * D * I, DType::F32, D, I}, nullptr);
  }

  pool_.parallel_for(T, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* o = static_cast<float*>(out.row(t).data);
      if (!accumulate) std::fill(o, o + D, 0.0f);
      for (int64_t k = 0; k < K; ++k) {
        if (pos[t * K + k] < 0) continue;
        const float w = topk_weights[t * K + k];
        const float* y = rows + (int64_t)pos[t * K + k] * D;
        for (int64_t d = 0; d < D; ++d) o[d] += w * y[d];
      }
    }
  }, grain_for(2 * K * D));
}

void CpuBackend::sigmoid_gate(Tensor y, Tensor x, Tensor w) {
  check_f32("sigmoid_gate", "y", y);
  check_f32("sigmoid_gate", "x", x);
  check_f32("sigmoid_gate", "w", w);
  check_sigmoid_gate(y, x, w);
  const float* wp = static_cast<const float*>(w.data);
  pool_.parallel_for(y.rows, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* xr = static_cast<const float*>(x.row(t).data);
      double dot = 0;
      for (int64_t d = 0; d < x.cols; ++d) dot += (double)xr[d] * wp[d];
      const float g = 1.0f / (1.0f + std::exp(-(float)dot));
      float* yr = static_cast<float*>(y.row(t).data);
      for (int64_t d = 0; d < y.cols; ++d) yr[d] *= g;
    }
  }, grain_for(2 * x.cols + y.cols));
}

}  // namespace gpubench
