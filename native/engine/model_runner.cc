#include "engine/model_runner.h"

#include <chrono>

#include "base/error.h"

namespace gpubench {

namespace {
std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1 << 30));
  return buf;
}

// What the cache holds per token and layer (the MTP layers' included): K and V of every KV head, or
// MLA's one row of [latent | k_pe] (Backend::mla_attention).
KvShape kv_shape(const ModelSpec& s, int64_t mtp_layers) {
  if (s.is_mla()) return KvShape{s.num_layers + mtp_layers, 1, s.mla.cache_dim(), false};
  return KvShape{s.num_layers + mtp_layers, s.num_kv_heads, s.head_dim, true};
}
}  // namespace

ModelRunner::ModelRunner(Backend& be, const ModelSpec& spec, const ShardSpec& shard, RankComms comms,
                         const ModelRunnerOptions& opts)
    : be_(be), spec_(spec), shard_(shard), comms_(comms), opts_(opts),
      mtp_layers_(opts.max_drafts > 0 ? spec.mtp_layers : 0) {
  const ModelSpec& local = shard_.local;
  const DType dt = be.act_dtype();
  const int64_t max_seqs = opts.max_batch, max_tokens = std::max(opts.max_tokens_per_step, max_seqs);
  const ActivationSizes sizes{max_tokens, max_seqs, max_seqs * (1 + opts.max_drafts), mtp_layers_ > 0,
                              max_tokens * shard_.layout.dp};
  const size_t weight_bytes = WeightStore::bytes_for(spec, shard_, mtp_layers_, dt);
  const size_t act_bytes =
      Activations::bytes_for(local, dt, sizes) + PinnedRouting::bytes_for(local, mtp_layers_, sizes.moe_tokens);
  const KvShape shape = kv_shape(local, mtp_layers_);
  const int64_t bytes_per_token = KvPool::bytes_per_token(shape, dt);

  // Refuse before allocating anything, and cap the KV pool to the memory that is left. Each message
  // starts with the part that does not fit (lib/api/fit-advice.ts names the options that help).
  const size_t free_bytes = be.device_info().free_bytes;
  const size_t margin = dt == DType::F32 ? (size_t)256 << 20 : (size_t)1 << 30;  // workspaces, graphs
  if (weight_bytes + margin > free_bytes) {
    fail(ErrorCode::DoesNotFit, "the weights do not fit on " + be.name() + ": " + gib((double)weight_bytes) +
                                    " + a reserve of " + gib((double)margin) + ", " + gib((double)free_bytes) + " free");
  }
  if (weight_bytes + act_bytes + margin > free_bytes) {
    fail(ErrorCode::DoesNotFit, "the activations do not fit on " + be.name() + ": " + gib((double)act_bytes) + " for " +
                                    std::to_string(sizes.max_tokens) + " tokens per forward, " +
                                    gib((double)(free_bytes - weight_bytes - margin)) + " free after the weights (" +
                                    gib((double)weight_bytes) + ") and a reserve of " + gib((double)margin));
  }
  int64_t fit_tokens = (int64_t)((free_bytes - weight_bytes - act_bytes - margin) / bytes_per_token);
  int64_t pool_tokens = std::min(opts.kv_pool_tokens, fit_tokens);
  int64_t num_blocks = pool_tokens / opts.block_size;
  if (num_blocks < 1) {
    fail(ErrorCode::DoesNotFit, "the KV cache does not fit on " + be.name() + ": " + std::to_string(bytes_per_token) +
                                    " bytes per token, " + gib((double)(free_bytes - weight_bytes - act_bytes)) +
                                    " left after weights and activations");
  }
  opts_.kv_pool_tokens = num_blocks * opts.block_size;

  try {
    weights_ = std::make_unique<WeightStore>(be, spec, shard_, mtp_layers_);
    auto t0 = std::chrono::steady_clock::now();
    if (opts.weights_path.empty()) {
      weights_->init_dummy(opts.seed);
      if (opts.nudge_weights) weights_->nudge_one_ulp(opts.seed);
    } else {
      weights_->load(opts.weights_path);
    }
    be.synchronize();
    weight_init_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    kv_ = std::make_unique<KvPool>(be, shape, num_blocks, opts.block_size);
    kv_->fill_finite(opts.seed);
    act_ = std::make_unique<Activations>(be, local, sizes);
    step_ = std::make_unique<StepBuffers>(be, sizes.max_tokens, max_seqs, sizes.max_logit_rows, max_blocks_per_seq(),
                                          opts.block_size);
    pinned_ = std::make_unique<PinnedRouting>(be, local, mtp_layers_, sizes.moe_tokens);
    // MLA rotates only the qk_rope_head_dim part of each head.
    rope_ = make_rope_table(spec.rope, (int)(spec.is_mla() ? spec.mla.qk_rope_head_dim : spec.head_dim));
    inv_freq_ = (float*)be.alloc(rope_.inv_freq.size() * sizeof(float));
    be.copy_to_device(inv_freq_, rope_.inv_freq.data(), rope_.inv_freq.size() * sizeof(float));
    be.synchronize();
  } catch (...) {
    release_all();
    throw;
  }
}

ModelRunner::~ModelRunner() { release_all(); }

void ModelRunner::release_all() {
  for (auto& [key, g] : graphs_) be_.graph_destroy(g);
  graphs_.clear();
  if (inv_freq_) be_.release(inv_freq_);
  inv_freq_ = nullptr;
  pinned_.reset();
  step_.reset();
  act_.reset();
  kv_.reset();
  weights_.reset();
}

ForwardArgs ModelRunner::args(Profiler* prof) {
  const PinnedRouting* pins = nullptr;
  if (pins_active_) {
    // Under DP attention the MoE blocks see every DP group's tokens.
    const int64_t moe_tokens = step_->num_tokens() * shard_.layout.dp;
    if (moe_tokens > pinned_->num_tokens()) {
      fail(ErrorCode::Internal, "routing was pinned for " + std::to_string(pinned_->num_tokens()) +
                                    " tokens, the step's MoE blocks have " + std::to_string(moe_tokens));
    }
    pins = pinned_.get();
  }
  return ForwardArgs{be_, shard_.local, shard_, comms_, weights_->weights(), *kv_, *step_, *act_, inv_freq_,
                     rope_.attn_factor, prof, pins, mla_form(opts_.mla_prefill, *step_)};
}

void ModelRunner::run(Profiler* prof) {
  ForwardArgs a = args(prof);
  main_pinned_ = a.pinned != nullptr;
  main_tokens_ = step_->num_tokens();
  main_mla_ = a.mla;
  model_forward(a);
}

void ModelRunner::forward_mtp(const std::vector<SeqStep>& seqs, int64_t ctx_bound, Profiler* prof, int64_t j,
                              bool from_main) {
  if (j < 0 || j >= mtp_layers_) {
    fail(ErrorCode::Internal, "MTP layer " + std::to_string(j) + " is not held (" + std::to_string(mtp_layers_) + ")");
  }
  step_->set(seqs, ctx_bound);
  const int64_t T = step_->num_tokens();
  mtp_forward(args(prof), (int)j, from_main ? act_->residual.first_rows(T) : act_->mtp_hidden.first_rows(T));
}

void ModelRunner::pin_routing(const RoutingPolicy& policy, int64_t step, int64_t num_tokens) {
  pins_active_ = spec_.is_moe() && policy.pinned();
  if (pins_active_) pinned_->set(policy, opts_.seed, step, num_tokens);
}

std::vector<int64_t> ModelRunner::expert_counts() {
  bool main_moe = false;
  for (int64_t l = 0; l < spec_.num_layers; ++l) main_moe = main_moe || spec_.layer_is_moe(l);
  if (!main_moe) return {};
  if (main_pinned_) return pinned_->counts(0);
  std::vector<int32_t> ids((size_t)(main_tokens_ * shard_.layout.dp * spec_.moe.top_k));
  be_.copy_to_host(ids.data(), act_->topk_ids, ids.size() * sizeof(int32_t));
  return expert_load(ids.data(), (int64_t)ids.size(), spec_.moe.num_experts);
}

void ModelRunner::forward(const std::vector<SeqStep>& seqs, int64_t ctx_bound, Profiler* prof) {
  step_->set(seqs, ctx_bound);
  run(prof);
}

void ModelRunner::forward_graph(const std::vector<SeqStep>& seqs, int64_t ctx_bound) {
  step_->set(seqs, ctx_bound);
  // Pinned and real routing read different id buffers: each has its own graph.
  auto key = std::make_tuple((int64_t)seqs.size(), ctx_bound, pins_active_);
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    // One eager run first, as serving engines do before capture: per-shape setup (cuBLASLt's
    // algorithm timing) cannot happen inside a capture. It writes the same KV slots the replay
    // below writes again.
    run(nullptr);
    be_.capture_begin();
    try {
      run(nullptr);
    } catch (...) {
      be_.capture_end();
      throw;
    }
    it = graphs_.emplace(key, be_.capture_end()).first;
  } else {
    main_pinned_ = pins_active_;  // what run() records, for the replay
    main_tokens_ = step_->num_tokens();
    main_mla_ = mla_form(opts_.mla_prefill, *step_);
  }
  be_.graph_replay(it->second);
}

std::vector<int32_t> ModelRunner::next_tokens(int64_t rows) {
  std::vector<int32_t> out(rows);
  be_.copy_to_host(out.data(), act_->next_tokens, rows * sizeof(int32_t));
  return out;
}

std::vector<float> ModelRunner::logits(int64_t rows) {
  std::vector<float> out((size_t)rows * spec_.vocab_size);
  be_.download_f32(out.data(), act_->logits.first_rows(rows));
  return out;
}

}  // namespace gpubench
