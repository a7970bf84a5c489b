#include "engine/engine.h"

#include "base/error.h"
#include "core/nvml.h"

namespace gpubench {

namespace {

void positive(int64_t v, const char* field) {
  if (v <= 0) fail(ErrorCode::InvalidConfig, std::string(field) + " must be a positive integer");
}

// The MoE fields (Hugging Face's names in the messages).
void validate_moe(const ModelSpec& s) {
  const MoeSpec& m = s.moe;
  const std::string E = std::to_string(m.num_experts);
  positive(m.top_k, "num_experts_per_tok");
  positive(m.expert_intermediate_size, "moe_intermediate_size");
  if (m.top_k > m.num_experts) {
    fail(ErrorCode::InvalidConfig, "top_k " + std::to_string(m.top_k) + " is larger than the number of experts " + E);
  }
  if ((int64_t)m.layer_is_moe.size() != s.num_layers) fail(ErrorCode::InvalidConfig, "layerIsMoe must have one entry per layer");
  if (m.shared_intermediate_size < 0) fail(ErrorCode::InvalidConfig, "shared_expert_intermediate_size must be >= 0");
  if (m.shared_expert_gate && m.shared_intermediate_size == 0) {
    fail(ErrorCode::InvalidConfig, "a shared expert gate needs a shared expert (shared_expert_intermediate_size > 0)");
  }
  if (m.scoring != "softmax" && m.scoring != "sigmoid") {
    fail(ErrorCode::InvalidConfig, "scoring_func '" + m.scoring + "' is not supported (allowed: softmax, sigmoid)");
  }
  if (!(m.routed_scaling_factor > 0)) fail(ErrorCode::InvalidConfig, "routed_scaling_factor must be positive");
  if (m.topk_method == "greedy") return;
  if (m.topk_method != "group_limited_greedy" && m.topk_method != "noaux_tc") {
    fail(ErrorCode::InvalidConfig,
         "topk_method '" + m.topk_method + "' is not supported (allowed: greedy, group_limited_greedy, noaux_tc)");
  }
  if (m.n_group < 1 || m.num_experts % m.n_group) {
    fail(ErrorCode::InvalidConfig, "n_group " + std::to_string(m.n_group) + " does not divide the number of experts " + E);
  }
  if (m.topk_group < 1 || m.topk_group > m.n_group) {
    fail(ErrorCode::InvalidConfig, "topk_group " + std::to_string(m.topk_group) + " is not in [1, n_group " +
                                       std::to_string(m.n_group) + "]");
  }
  if (m.top_k > m.topk_group * (m.num_experts / m.n_group)) {
    fail(ErrorCode::InvalidConfig, "top_k " + std::to_string(m.top_k) + " is larger than the experts of topk_group " +
                                       std::to_string(m.topk_group) + " groups");
  }
  if (m.topk_method == "noaux_tc" && m.num_experts / m.n_group < 2) {
    fail(ErrorCode::InvalidConfig, "noaux_tc ranks groups by their best two experts: groups need at least 2");
  }
}

// The MLA fields (Hugging Face's names in the messages).
void validate_mla(const ModelSpec& s) {
  const MlaSpec& m = s.mla;
  if (m.q_lora_rank < 0) fail(ErrorCode::InvalidConfig, "q_lora_rank must be >= 0 (0: q projected directly)");
  positive(m.kv_lora_rank, "kv_lora_rank");
  positive(m.qk_nope_head_dim, "qk_nope_head_dim");
  positive(m.qk_rope_head_dim, "qk_rope_head_dim");
  positive(m.v_head_dim, "v_head_dim");
  if (m.qk_rope_head_dim % 2) fail(ErrorCode::InvalidConfig, "qk_rope_head_dim must be even");
}

}  // namespace

void validate_spec(const ModelSpec& s) {
  const bool dense = s.model_type == "llama" || s.model_type == "mistral" || s.model_type == "qwen2" || s.model_type == "qwen3";
  const bool mla = s.model_type == "deepseek_v2" || s.model_type == "deepseek_v3";
  const bool moe = mla || s.model_type == "mixtral" || s.model_type == "qwen2_moe" || s.model_type == "qwen3_moe";
  if (!dense && !moe) {
    fail(ErrorCode::InvalidConfig, "model_type '" + s.model_type +
                                       "' is not supported (allowed: llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, "
                                       "qwen3_moe, deepseek_v2, deepseek_v3)");
  }
  if (moe && !s.is_moe()) fail(ErrorCode::InvalidConfig, "model_type '" + s.model_type + "' needs num_experts > 0");
  if (dense && s.is_moe()) fail(ErrorCode::InvalidConfig, "model_type '" + s.model_type + "' has no experts");
  if (mla != s.is_mla()) {
    fail(ErrorCode::InvalidConfig,
         "model_type '" + s.model_type + (mla ? "' needs kv_lora_rank > 0" : "' has no MLA (kv_lora_rank must be 0)"));
  }
  if (s.mtp_layers < 0 || (s.mtp_layers > 0 && s.model_type != "deepseek_v3")) {
    fail(ErrorCode::InvalidConfig, "num_nextn_predict_layers " + std::to_string(s.mtp_layers) +
                                       " is not allowed for model_type '" + s.model_type + "' (only deepseek_v3 has MTP layers)");
  }
  if (s.is_moe()) validate_moe(s);
  if (s.is_mla()) validate_mla(s);
  positive(s.vocab_size, "vocab_size");
  positive(s.hidden_size, "hidden_size");
  positive(s.intermediate_size, "intermediate_size");
  positive(s.num_layers, "num_hidden_layers");
  positive(s.num_heads, "num_attention_heads");
  positive(s.num_kv_heads, "num_key_value_heads");
  positive(s.head_dim, "head_dim");
  if (s.num_heads % s.num_kv_heads) fail(ErrorCode::InvalidConfig, "num_attention_heads must be a multiple of num_key_value_heads");
  // GQA rotates whole heads (pairs i, i + head_dim/2); MLA's head_dim is qk_nope + qk_rope, and only
  // its rope part, checked above, rotates.
  if (!mla && s.head_dim % 2) fail(ErrorCode::InvalidConfig, "head_dim must be even");
}

Engine::Engine(const BackendFactory& make_backends, const EngineOptions& opts, BatchScheduler& scheduler,
               const std::atomic<bool>& cancel)
    : spec_(opts.spec), scheduler_(scheduler), cancel_(cancel) {
  validate_spec(spec_);
  validate_layout(spec_, opts.parallel);
  if (opts.local.process.on()) {
    if (opts.local.simulated) fail(ErrorCode::InvalidArgument, "parallel.simulate with parallel.process (allowed: one of them: an estimate runs on one device)");
    check_process_rank(opts.parallel, opts.local.process);
  }
  const ModelRunnerOptions& r = opts.runner;
  if (r.max_batch < 1 || r.max_context < 1 || r.kv_pool_tokens < 1 || r.block_size < 1) {
    fail(ErrorCode::InvalidArgument, "maxBatch, maxContext, kvPoolTokens and blockSize must be >= 1");
  }
  if (r.block_size & (r.block_size - 1)) fail(ErrorCode::InvalidArgument, "blockSize must be a power of two");
  if (r.max_drafts < 0) fail(ErrorCode::InvalidArgument, "maxDrafts must be >= 0");
  if (r.max_drafts > 0) check_mtp_model(spec_);
  ranks_ = std::make_unique<RankGroup>(make_backends(opts.local.count(opts.parallel)), spec_, opts.parallel, r, opts.local);
  // NVML is opened once per engine (rank 0's device); a device without it still runs, with the
  // reason in each point.
  const std::string bus_id = ranks_->backend().device_info().pci_bus_id;
  if (bus_id.empty()) {
    telemetry_.reason = "no NVML: CPU device";
  } else {
    telemetry_ = open_nvml(bus_id);
  }
}

Engine::~Engine() {
  telemetry_.source.reset();
  ranks_.reset();
}

PointResult Engine::run_point(const PointOptions& opts, const ProgressFn& progress) {
  return PointRunner(*ranks_, scheduler_, cancel_, telemetry_).run(opts, progress);
}

GenerateResult Engine::generate(const std::vector<int32_t>& prompt, int64_t steps, const GenerateOptions& o) {
  for (int32_t id : prompt) {
    if (id < 0 || id >= spec_.vocab_size) {
      fail(ErrorCode::InvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                           std::to_string(spec_.vocab_size) + ")");
    }
  }
  return PointRunner(*ranks_, scheduler_, cancel_, telemetry_).generate(prompt, steps, o);
}

// Peaks and op benchmarks measure rank 0's device, from its thread; the bus, every rank of rank 0's
// group.
Peaks Engine::peaks() {
  Peaks p;
  ranks_->on_rank(0, [&] { p = measure_peaks(ranks_->backend()); });
  p.bus = ranks_->measure_bus();
  return p;
}

OpTiming Engine::bench_op(const OpBenchCase& c) {
  OpTiming t;
  ranks_->on_rank(0, [&] { t = gpubench::bench_op(ranks_->backend(), spec_, ranks_->options().block_size, c); });
  return t;
}

EngineInfo Engine::info() const {
  RankGroup& g = *ranks_;
  Backend& be = g.backend();
  EngineInfo i;
  i.device = be.name();
  i.device_info = be.device_info();
  i.device_name = i.device_info.name;
  i.dtype = dtype_name(be.act_dtype());
  i.weight_bytes = g.rank(0).weight_bytes();
  i.kv_pool_tokens = g.options().kv_pool_tokens;
  i.kv_bytes_per_token = g.kv().bytes_per_token();
  i.block_size = g.options().block_size;
  i.weight_init_ms = g.rank(0).weight_init_ms();
  i.parallel = g.layout();
  i.simulated = g.simulated();
  if (g.local().process.on()) {
    i.process_rank = g.local().process.rank;
    i.process_world = g.local().process.world;
  }
  return i;
}

}  // namespace gpubench
