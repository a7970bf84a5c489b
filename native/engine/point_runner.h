// The benchmark protocol of one grid point (docs/architecture.md, "Data flow of one grid point"):
// admit a full batch, give every request its KV blocks, then run the warm-up, timed and profiled
// passes.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/profiler.h"
#include "core/routing.h"
#include "core/telemetry.h"
#include "engine/mtp_decoder.h"
#include "engine/rank_group.h"
#include "engine/scheduler.h"

namespace gpubench {

enum class Mode { Prefill, Decode, Both };

struct PointOptions {
  int64_t batch_size = 1;  // per DP group: the point runs batch_size * dp requests
  int64_t input_len = 1;
  int64_t output_len = 1;
  Mode mode = Mode::Both;
  double batch_timeout_ms = 10000;
  bool use_graphs = true;
  bool profile_prefill = false;
  bool profile_decode = false;
  int64_t profile_decode_steps = 3;
  std::string trace_prefix;  // empty: no trace files
  std::string run_name;
  RoutingPolicy moe_routing;  // core/routing.h (default balanced); ignored by dense models
  // MTP (engine/mtp_decoder.h): draft tokens per step (0: off) and the pinned acceptance. A step then
  // verifies 1 + mtp_drafts tokens per request and emits the accepted drafts + 1; output_len still
  // counts the steps (prefill included in mode both), so every request runs the same forwards.
  int64_t mtp_drafts = 0;
  Acceptance mtp_accept;
};

struct PointResult {
  double waiting_ms = 0;
  double prefill_ms = -1;  // -1: not measured (decode mode)
  std::vector<double> decode_step_ms;
  std::vector<double> decode_context;  // tokens the first row of each step attends to, mean over the batch
  // Tokens each timed decode step emitted over the batch: B without MTP, the accepted drafts + 1 per
  // request with it.
  std::vector<int64_t> accepted_tokens;
  std::vector<int32_t> first_request_tokens;
  bool used_graphs = false;
  // Backend::take_kernel_paths() of the point's passes: which path each op family took.
  std::map<std::string, std::string> kernel_paths;
  // MLA models: the form (ModelRunner::last_mla_form) of the timed prefill and of the first timed
  // decode step; empty where the model is not MLA or the phase did not run.
  std::string mla_prefill_form, mla_decode_form;
  std::vector<OpTime> profiled_prefill, profiled_decode;
  std::vector<std::string> trace_files;
  std::string routing;  // the MoE routing policy of the point
  // MoE: tokens per expert at the first MoE layer in the first timed forward (the prefill in
  // prefill mode, else the first decode step); empty for dense models.
  std::vector<int64_t> expert_counts;
  // The timed pass's device telemetry (core/telemetry.h), or why there is none.
  bool has_telemetry = false;
  TelemetryTrace telemetry;
  std::string telemetry_reason;
};

struct Progress {
  const char* phase;
  int64_t step, total_steps;
};
using ProgressFn = std::function<void(const Progress&)>;

struct GenerateOptions {
  bool use_graphs = false;
  int64_t mtp_drafts = 0;
  Acceptance mtp_accept;
  // "real" routes as the router chooses; a pinned policy (core/routing.h) fixes every MoE layer's
  // experts, e.g. to compare two backends without a near-equal router score picking differently.
  // Not with MTP drafts.
  RoutingPolicy moe_routing{RoutingKind::Real, 0, "real"};
};

struct GenerateResult {
  std::vector<int32_t> tokens;
  // One row per token: the prompt's last position, then each decode step's (with MTP, the rows of
  // the verification that gave each emitted token).
  std::vector<std::vector<float>> logits;
  // MTP: each drafting's tokens and logits (after the prefill, then after each step), and the drafts
  // accepted per step.
  std::vector<std::vector<int32_t>> drafts;
  std::vector<std::vector<std::vector<float>>> draft_logits;
  std::vector<int64_t> accepted;
  // Backend::take_kernel_paths() of the run: which path (fast, general) each op family took.
  std::map<std::string, std::string> kernel_paths;
  // MLA models: the form of the prompt's prefill (ModelRunner::last_mla_form); empty for other models.
  std::string mla_prefill_form;
};

struct PointShape;

class PointRunner {
 public:
  PointRunner(RankGroup& model, BatchScheduler& scheduler, const std::atomic<bool>& cancel, DeviceTelemetry& telemetry)
      : model_(model), scheduler_(scheduler), cancel_(cancel), telemetry_(telemetry) {}

  PointResult run(const PointOptions& opts, const ProgressFn& progress);
  // Prefill `prompt`, then `steps` greedy decode steps of one request, keeping every logit row;
  // with mtp_drafts > 0, `steps` MTP steps (drafting after the prefill and after each step). Under
  // DP attention every DP group runs one request: group 0 `prompt`, group d the prompt rotated
  // left by d tokens, so that group 0's logits depend on the collectives giving it its own rows.
  GenerateResult generate(const std::vector<int32_t>& prompt, int64_t steps, const GenerateOptions& o);

 private:
  RankGroup& model_;
  BatchScheduler& scheduler_;
  const std::atomic<bool>& cancel_;
  DeviceTelemetry& telemetry_;

  void check_cancel() const;
  // One-line errors for a point this engine cannot run; what the point is otherwise.
  PointShape check_point(const PointOptions& o) const;
  // One-line errors for an MTP setting this model or engine cannot run.
  void check_mtp(int64_t drafts, const Acceptance& accept, int64_t batch) const;
};

}  // namespace gpubench
