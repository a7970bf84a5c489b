// Engine: one model on one device. Owns the backend it is given (the addon chooses it from the
// device string) and the model runner (weights, KV pool); its methods run on the engine's worker
// thread (native/addon/). The batch scheduler and the
// cancel flag belong to the caller, because JavaScript touches them while a job runs.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/model_spec.h"
#include "core/telemetry.h"
#include "engine/model_runner.h"
#include "engine/op_bench.h"
#include "engine/peaks.h"
#include "engine/point_runner.h"
#include "engine/scheduler.h"

namespace gpubench {

struct EngineOptions {
  ModelSpec spec;
  // Which backend the addon makes for the engine (the engine itself never reads them).
  std::string device = "cpu";
  int cpu_threads = 0;
  ModelRunnerOptions runner;
};

struct EngineInfo {
  std::string device, device_name, dtype;
  size_t weight_bytes = 0;
  int64_t kv_pool_tokens = 0, kv_bytes_per_token = 0, block_size = 0;
  double weight_init_ms = 0;
  DeviceInfo device_info;  // of the engine's own backend (its CPU threads, the CUDA versions)
};

class Engine {
 public:
  Engine(std::unique_ptr<Backend> backend, const EngineOptions& opts, BatchScheduler& scheduler,
         const std::atomic<bool>& cancel);
  ~Engine();

  PointResult run_point(const PointOptions& opts, const ProgressFn& progress);
  GenerateResult generate(const std::vector<int32_t>& prompt, int64_t steps, const GenerateOptions& o);
  Peaks peaks();
  OpTiming bench_op(const OpBenchCase& c);
  std::vector<GemmAlgo> gemm_algos() const { return be_->gemm_algos(); }
  EngineInfo info() const;
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  std::unique_ptr<Backend> be_;
  std::unique_ptr<ModelRunner> model_;
  BatchScheduler& scheduler_;
  const std::atomic<bool>& cancel_;
  DeviceTelemetry telemetry_;
};

void validate_spec(const ModelSpec& s);

}  // namespace gpubench
