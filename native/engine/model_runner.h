// ModelRunner: everything that runs one forward step of one rank on its device — its shard of the
// weights, its KV pool, activations, step metadata, rope table — and the CUDA graphs of its decode
// steps. A layout of several ranks runs one per rank in lockstep (engine/rank_group.h).
#pragma once
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "core/communicator.h"
#include "core/kv_cache.h"
#include "core/layout.h"
#include "core/model_spec.h"
#include "core/profiler.h"
#include "core/routing.h"
#include "core/step.h"
#include "model/activations.h"
#include "model/forward.h"
#include "model/rope.h"
#include "model/weights.h"

namespace gpubench {

struct ModelRunnerOptions {
  int64_t kv_pool_tokens = 0;
  int64_t max_batch = 1;
  int64_t max_tokens_per_step = 1;
  int64_t max_context = 1;
  int64_t block_size = 16;
  // Most MTP draft tokens per step; 0: MTP off, and the MTP layers' weights and KV are not held.
  int64_t max_drafts = 0;
  uint64_t seed = 0;
  std::string weights_path;  // empty: dummy weights
  // Dummy weights each moved one bf16 ulp (WeightStore::nudge_one_ulp): the GPU tests' noise floor.
  bool nudge_weights = false;
  // MLA models: the form of prefill steps (steps without a cached prefix); every other step runs
  // absorbed (model/forward.h, mla_form).
  MlaForm mla_prefill = MlaForm::Decompressed;
};

class ModelRunner {
 public:
  // Rank shard.rank of the layout, talking to its peers through comms. opts.kv_pool_tokens is
  // capped to what fits.
  ModelRunner(Backend& be, const ModelSpec& spec, const ShardSpec& shard, RankComms comms, const ModelRunnerOptions& opts);
  ~ModelRunner();
  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;

  // One step, eager; per-op times go to prof when given.
  void forward(const std::vector<SeqStep>& seqs, int64_t ctx_bound, Profiler* prof);
  // One decode step through a CUDA graph captured on first use for (batch, ctx_bound).
  void forward_graph(const std::vector<SeqStep>& seqs, int64_t ctx_bound);
  // One MTP draft forward of MTP layer j (model/mtp.cc) over seqs, whose rows take as hidden states
  // those the last forward left: from_main, the main model's rows (seqs must have its row layout),
  // else the last MTP forward's logit rows (one row per sequence).
  void forward_mtp(const std::vector<SeqStep>& seqs, int64_t ctx_bound, Profiler* prof, int64_t j, bool from_main);
  // MoE: every forward of up to num_tokens tokens uses the experts `policy` pins for `step` instead
  // of the router's choice (a smaller forward, an MTP draft, the first rows' pins), until the next
  // pin_routing or unpin_routing. Called before the step's timing starts, so the host work of the
  // policy is not timed. Without pins the router decides.
  void pin_routing(const RoutingPolicy& policy, int64_t step, int64_t num_tokens);
  void unpin_routing() { pins_active_ = false; }
  // MoE: tokens per expert at the first MoE layer of the last main-model forward (empty for dense
  // models, and where --layers left the main model no MoE layer).
  std::vector<int64_t> expert_counts();
  // Greedy next token of each of the last step's first `rows` logit rows (waits for the device).
  std::vector<int32_t> next_tokens(int64_t rows);
  // Their logits, [rows * vocab] (waits).
  std::vector<float> logits(int64_t rows);

  // MLA models: the form the last main-model forward ran in ("absorbed" or "decompressed"); empty
  // for other models.
  std::string last_mla_form() const { return spec_.is_mla() ? mla_form_name(main_mla_) : ""; }

  Backend& backend() { return be_; }
  const ModelSpec& spec() const { return spec_; }
  const ShardSpec& shard() const { return shard_; }
  const KvPool& kv() const { return *kv_; }
  size_t weight_bytes() const { return weights_->bytes(); }
  double weight_init_ms() const { return weight_init_ms_; }
  const ModelRunnerOptions& options() const { return opts_; }
  int64_t mtp_layers() const { return mtp_layers_; }  // MTP layers held (0 when MTP is off)
  int64_t max_blocks_per_seq() const { return (opts_.max_context + opts_.block_size - 1) / opts_.block_size; }

 private:
  Backend& be_;
  const ModelSpec& spec_;
  ShardSpec shard_;
  RankComms comms_;
  ModelRunnerOptions opts_;
  int64_t mtp_layers_ = 0;
  std::unique_ptr<WeightStore> weights_;
  std::unique_ptr<KvPool> kv_;
  std::unique_ptr<Activations> act_;
  std::unique_ptr<StepBuffers> step_;
  std::unique_ptr<PinnedRouting> pinned_;
  bool pins_active_ = false;
  bool main_pinned_ = false;  // whether the last main-model forward used pins,
  int64_t main_tokens_ = 0;   // and its tokens
  MlaForm main_mla_ = MlaForm::Absorbed;  // and its MLA form
  RopeTable rope_;
  float* inv_freq_ = nullptr;
  std::map<std::tuple<int64_t, int64_t, bool>, Graph> graphs_;  // (batch, ctx_bound, pinned routing)
  double weight_init_ms_ = 0;

  ForwardArgs args(Profiler* prof);
  void run(Profiler* prof);
  void release_all();
};

}  // namespace gpubench
