#include "core/routing.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/rng.h"

namespace gpubench {

namespace {

constexpr const char* kAllowed = "balanced, uniform, zipf:<s> with s > 0, real";
// Hash streams of the draws of a (layer, step) and of a layer's rank order.
constexpr uint64_t kDrawStream = 0x726f757465ull;  // "route"
constexpr uint64_t kRankStream = 0x72616e6bull;    // "rank"
// Rejected draws (an expert the token already has) before the exact, slower draw takes over.
constexpr int kMaxRejections = 64;

double unit(uint64_t h) { return (double)(h >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)

// Distinct experts for each token with probability proportional to weight[rank] (uniform: all 1),
// rank r being expert by_rank[r]. Each draw picks a rank from the cumulative weights and redraws
// ranks the token already has; after kMaxRejections it draws exactly among the ranks left (only
// heavy skews with top_k near E get there).
void draw_distinct(const std::vector<double>& cdf, const std::vector<int32_t>& by_rank, int64_t K, uint64_t h,
                   std::vector<int32_t>& taken, int32_t* ids) {
  const int64_t E = (int64_t)cdf.size();
  taken.clear();
  uint64_t counter = 0;
  auto has = [&](int32_t r) { return std::find(taken.begin(), taken.end(), r) != taken.end(); };
  for (int64_t k = 0; k < K; ++k) {
    int32_t r = -1;
    for (int attempt = 0; attempt < kMaxRejections && r < 0; ++attempt) {
      double u = unit(mix64(h + counter++)) * cdf.back();
      int32_t c = (int32_t)std::min<int64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin(), E - 1);
      if (!has(c)) r = c;
    }
    if (r < 0) {
      double left = 0;
      for (int32_t c = 0; c < E; ++c)
        if (!has(c)) left += cdf[c] - (c ? cdf[c - 1] : 0.0);
      double u = unit(mix64(h + counter++)) * left;
      for (int32_t c = 0; c < E && r < 0; ++c) {
        if (has(c)) continue;
        u -= cdf[c] - (c ? cdf[c - 1] : 0.0);
        if (u < 0) r = c;
      }
      if (r < 0)  // rounding left u at >= 0 past the end: the last rank not taken
        for (int32_t c = (int32_t)E - 1; c >= 0 && r < 0; --c)
          if (!has(c)) r = c;
    }
    taken.push_back(r);
    ids[k] = by_rank[r];
  }
}

}  // namespace

RoutingPolicy routing_policy(const std::string& kind, double zipf_s, const std::string& text) {
  RoutingPolicy p;
  p.text = text;
  if (kind == "balanced") return p;
  if (kind == "real" || kind == "uniform") {
    p.kind = kind == "real" ? RoutingKind::Real : RoutingKind::Uniform;
    return p;
  }
  if (kind == "zipf" && std::isfinite(zipf_s) && zipf_s > 0) {
    p.kind = RoutingKind::Zipf;
    p.zipf_s = zipf_s;
    return p;
  }
  fail(ErrorCode::InvalidArgument, "moe routing '" + text + "' is not allowed (allowed: " + kAllowed + ")");
}

void pin_layer(const RoutingPolicy& p, int64_t E, int64_t K, uint64_t seed, int64_t layer, int64_t step, int64_t T,
               int32_t* ids, float* weights) {
  if (!p.pinned()) fail(ErrorCode::Internal, "pin_layer: routing 'real' has no pins");
  std::fill(weights, weights + T * K, 1.0f / (float)K);
  if (p.kind == RoutingKind::Balanced) {
    for (int64_t i = 0; i < T * K; ++i) ids[i] = (int32_t)((i + layer) % E);
    return;
  }
  // The rank order: a Fisher-Yates shuffle seeded by the layer (uniform needs none, but it costs
  // nothing and keeps one code path).
  std::vector<int32_t> by_rank(E);
  for (int64_t r = 0; r < E; ++r) by_rank[r] = (int32_t)r;
  for (int64_t r = E - 1; r > 0; --r)
    std::swap(by_rank[r], by_rank[hash3(seed, kRankStream, (uint64_t)layer * E + r) % (uint64_t)(r + 1)]);
  const double s = p.kind == RoutingKind::Zipf ? p.zipf_s : 0.0;
  std::vector<double> cdf(E);
  double sum = 0;
  for (int64_t r = 0; r < E; ++r) cdf[r] = sum += std::pow((double)(r + 1), -s);

  const uint64_t stream = mix64(kDrawStream ^ mix64(((uint64_t)layer << 32) ^ (uint64_t)step));
  std::vector<int32_t> taken;
  taken.reserve(K);
  for (int64_t t = 0; t < T; ++t) draw_distinct(cdf, by_rank, K, hash3(seed, stream, (uint64_t)t), taken, ids + t * K);
}

std::vector<int64_t> expert_load(const int32_t* ids, int64_t n, int64_t num_experts) {
  std::vector<int64_t> counts(num_experts, 0);
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] >= 0 && ids[i] < num_experts) ++counts[ids[i]];
  return counts;
}

namespace {
std::vector<int64_t> moe_layer_indices(const ModelSpec& spec, int64_t mtp_layers) {
  std::vector<int64_t> out;
  for (int64_t l = 0; l < spec.num_layers + mtp_layers; ++l)
    if (spec.layer_is_moe(l)) out.push_back(l);
  return out;
}
}  // namespace

size_t PinnedRouting::bytes_for(const ModelSpec& spec, int64_t mtp_layers, int64_t max_tokens) {
  return (size_t)moe_layer_indices(spec, mtp_layers).size() * max_tokens * spec.moe.top_k *
         (sizeof(int32_t) + sizeof(float));
}

PinnedRouting::PinnedRouting(Backend& be, const ModelSpec& spec, int64_t mtp_layers, int64_t max_tokens)
    : be_(be), spec_(spec), moe_layers_(moe_layer_indices(spec, mtp_layers)), max_tokens_(max_tokens) {
  const size_t n = moe_layers_.size() * max_tokens * spec.moe.top_k;
  host_ids_.resize(n);
  host_weights_.resize(n);
  if (n > 0) device_ = be_.alloc(bytes_for(spec, mtp_layers, max_tokens));
}

PinnedRouting::~PinnedRouting() {
  if (device_) be_.release(device_);
}

void PinnedRouting::set(const RoutingPolicy& p, uint64_t seed, int64_t step, int64_t T) {
  if (T > max_tokens_) fail(ErrorCode::Internal, "pinned routing: step has more tokens than the engine holds");
  const int64_t K = spec_.moe.top_k, n = T * K, L = (int64_t)moe_layers_.size();
  T_ = T;
  for (int64_t m = 0; m < L; ++m) {
    pin_layer(p, spec_.moe.num_experts, K, seed, moe_layers_[m], step, T, host_ids_.data() + m * n,
              host_weights_.data() + m * n);
  }
  if (L == 0) return;
  be_.copy_to_device(device_, host_ids_.data(), (size_t)(L * n) * sizeof(int32_t));
  be_.copy_to_device((char*)device_ + (size_t)(L * n) * sizeof(int32_t), host_weights_.data(),
                     (size_t)(L * n) * sizeof(float));
}

const int32_t* PinnedRouting::ids(int64_t m) const {
  return (const int32_t*)device_ + m * T_ * spec_.moe.top_k;
}

const float* PinnedRouting::weights(int64_t m) const {
  const int64_t n = T_ * spec_.moe.top_k;
  return (const float*)((const char*)device_ + (size_t)((int64_t)moe_layers_.size() * n) * sizeof(int32_t)) + m * n;
}

std::vector<int64_t> PinnedRouting::counts(int64_t m) const {
  const int64_t n = T_ * spec_.moe.top_k;
  return expert_load(host_ids_.data() + m * n, n, spec_.moe.num_experts);
}

}  // namespace gpubench
