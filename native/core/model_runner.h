// ModelRunner: everything that runs one forward step on the device — weights, KV pool,
// activations, step metadata, rope table — and the CUDA graphs of decode steps.
#pragma once
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/kv_cache.h"
#include "core/profiler.h"
#include "core/spec.h"
#include "core/step.h"
#include "model/activations.h"
#include "model/rope.h"
#include "model/weights.h"

namespace gpubench {

struct ModelRunnerOptions {
  int64_t kv_pool_tokens = 0;
  int64_t max_batch = 1;
  int64_t max_tokens_per_step = 1;
  int64_t max_context = 1;
  int64_t block_size = 16;
  uint64_t seed = 0;
  std::string weights_path;  // empty: dummy weights
};

class ModelRunner {
 public:
  ModelRunner(Backend& be, const ModelSpec& spec, const ModelRunnerOptions& opts);
  ~ModelRunner();
  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;

  // One step, eager; per-op times go to prof when given.
  void forward(const std::vector<SeqStep>& seqs, int64_t ctx_bound, Profiler* prof);
  // One decode step through a CUDA graph captured on first use for (batch, ctx_bound).
  void forward_graph(const std::vector<SeqStep>& seqs, int64_t ctx_bound);
  // Greedy next token of each sequence of the last step (waits for the device).
  std::vector<int32_t> next_tokens(int64_t num_seqs);
  // Logits of each sequence's last token of the last step, [num_seqs * vocab] (waits).
  std::vector<float> logits(int64_t num_seqs);

  Backend& backend() { return be_; }
  BlockAllocator& blocks() { return *blocks_; }
  const KvPool& kv() const { return *kv_; }
  size_t weight_bytes() const { return weights_->bytes(); }
  double weight_init_ms() const { return weight_init_ms_; }
  const ModelRunnerOptions& options() const { return opts_; }
  int64_t max_blocks_per_seq() const { return (opts_.max_context + opts_.block_size - 1) / opts_.block_size; }

 private:
  Backend& be_;
  const ModelSpec& spec_;
  ModelRunnerOptions opts_;
  std::unique_ptr<WeightStore> weights_;
  std::unique_ptr<KvPool> kv_;
  std::unique_ptr<BlockAllocator> blocks_;
  std::unique_ptr<Activations> act_;
  std::unique_ptr<StepBuffers> step_;
  RopeTable rope_;
  float* inv_freq_ = nullptr;
  std::map<std::pair<int64_t, int64_t>, Graph> graphs_;
  double weight_init_ms_ = 0;

  void run(Profiler* prof);
  void release_all();
};

}  // namespace gpubench
