// Engine: one model on one device, or on one device per rank of a parallel layout. Owns the
// backends it is given (the addon chooses them from the device string) and the rank group (each
// rank's model runner: weights shard, KV pool); its methods run on the engine's worker thread
// (native/addon/). The batch scheduler and the
// cancel flag belong to the caller, because JavaScript touches them while a job runs.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/model_spec.h"
#include "core/telemetry.h"
#include "engine/model_runner.h"
#include "engine/op_bench.h"
#include "engine/peaks.h"
#include "engine/point_runner.h"
#include "engine/rank_group.h"
#include "engine/scheduler.h"

namespace gpubench {

struct EngineOptions {
  ModelSpec spec;
  // Which backend the addon makes for the engine (the engine itself never reads them).
  std::string device = "cpu";
  int cpu_threads = 0;  // over all ranks
  Layout parallel;
  // Which ranks of `parallel` run here: every one (a thread and a device each), rank 0 alone on one
  // device with collectives that move nothing (local.simulated: an estimate), or a launch's process's
  // one rank on one device (local.process).
  LocalRanks local;
  ModelRunnerOptions runner;
};

struct EngineInfo {
  std::string device, device_name, dtype;
  size_t weight_bytes = 0;
  int64_t kv_pool_tokens = 0, kv_bytes_per_token = 0, block_size = 0;
  double weight_init_ms = 0;
  DeviceInfo device_info;  // of rank 0's backend (its CPU threads, the CUDA versions)
  Layout parallel;
  bool simulated = false;
  int64_t process_rank = -1, process_world = 0;  // a launch's process: its rank of the layout (-1: none)
};

class Engine {
 public:
  // make_backends(n): one backend per local rank (opts.local.count(opts.parallel)), called once the
  // spec and the layout are valid.
  using BackendFactory = std::function<std::vector<std::unique_ptr<Backend>>(int64_t world)>;
  Engine(const BackendFactory& make_backends, const EngineOptions& opts, BatchScheduler& scheduler,
         const std::atomic<bool>& cancel);
  ~Engine();

  PointResult run_point(const PointOptions& opts, const ProgressFn& progress);
  GenerateResult generate(const std::vector<int32_t>& prompt, int64_t steps, const GenerateOptions& o);
  Peaks peaks();
  OpTiming bench_op(const OpBenchCase& c);
  std::vector<GemmAlgo> gemm_algos() { return ranks_->backend().gemm_algos(); }
  EngineInfo info() const;
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  std::unique_ptr<RankGroup> ranks_;
  BatchScheduler& scheduler_;
  const std::atomic<bool>& cancel_;
  DeviceTelemetry telemetry_;
};

void validate_spec(const ModelSpec& s);

}  // namespace gpubench
