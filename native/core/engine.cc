#include "core/engine.h"

#include "backend/factory.h"
#include "core/error.h"

namespace gpubench {

void validate_spec(const ModelSpec& s) {
  auto positive = [](int64_t v, const char* field) {
    if (v <= 0) fail(ErrorCode::InvalidConfig, std::string(field) + " must be a positive integer");
  };
  if (s.model_type != "llama" && s.model_type != "mistral" && s.model_type != "qwen2" && s.model_type != "qwen3") {
    fail(ErrorCode::InvalidConfig, "model_type '" + s.model_type + "' is not supported (allowed: llama, mistral, qwen2, qwen3)");
  }
  positive(s.vocab_size, "vocab_size");
  positive(s.hidden_size, "hidden_size");
  positive(s.intermediate_size, "intermediate_size");
  positive(s.num_layers, "num_hidden_layers");
  positive(s.num_heads, "num_attention_heads");
  positive(s.num_kv_heads, "num_key_value_heads");
  positive(s.head_dim, "head_dim");
  if (s.num_heads % s.num_kv_heads) fail(ErrorCode::InvalidConfig, "num_attention_heads must be a multiple of num_key_value_heads");
  if (s.head_dim % 2) fail(ErrorCode::InvalidConfig, "head_dim must be even");
}

Engine::Engine(const EngineOptions& opts, BatchScheduler& scheduler, const std::atomic<bool>& cancel)
    : spec_(opts.spec), scheduler_(scheduler), cancel_(cancel) {
  validate_spec(spec_);
  const ModelRunnerOptions& r = opts.runner;
  if (r.max_batch < 1 || r.max_context < 1 || r.kv_pool_tokens < 1 || r.block_size < 1) {
    fail(ErrorCode::InvalidArgument, "maxBatch, maxContext, kvPoolTokens and blockSize must be >= 1");
  }
  if (r.block_size & (r.block_size - 1)) fail(ErrorCode::InvalidArgument, "blockSize must be a power of two");
  be_ = make_backend(opts.device, opts.cpu_threads);
  model_ = std::make_unique<ModelRunner>(*be_, spec_, r);
}

Engine::~Engine() {
  model_.reset();
  be_.reset();
}

PointResult Engine::run_point(const PointOptions& opts, const ProgressFn& progress) {
  return PointRunner(*model_, scheduler_, cancel_).run(opts, progress);
}

GenerateResult Engine::generate(const std::vector<int32_t>& prompt, int64_t steps, bool use_graphs) {
  for (int32_t id : prompt) {
    if (id < 0 || id >= spec_.vocab_size) {
      fail(ErrorCode::InvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                           std::to_string(spec_.vocab_size) + ")");
    }
  }
  return PointRunner(*model_, scheduler_, cancel_).generate(prompt, steps, use_graphs);
}

Peaks Engine::peaks() { return measure_peaks(*be_); }

EngineInfo Engine::info() const {
  EngineInfo i;
  i.device = be_->name();
  i.device_name = be_->device_info().name;
  i.dtype = dtype_name(be_->act_dtype());
  i.weight_bytes = model_->weight_bytes();
  i.kv_pool_tokens = model_->options().kv_pool_tokens;
  i.kv_bytes_per_token = model_->kv().bytes_per_token();
  i.block_size = model_->options().block_size;
  i.weight_init_ms = model_->weight_init_ms();
  return i;
}

}  // namespace gpubench
