#include "engine/point_runner.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "core/routing.h"
#include "engine/decode_step.h"
#include "engine/trace.h"

// How often the timed pass's telemetry is sampled: NVML's power reading is itself an average over
// tens of ms, and each read costs a few µs on a host thread the pass does not use.
constexpr double kTelemetryPeriodMs = 10;

namespace gpubench {

// What a point is, checked before it waits for its batch.
struct PointShape {
  int64_t B, L, K;       // B: requests over every DP group
  bool prefill;          // the point's forwards start with a prefill (modes prefill and both)
  int64_t decode_steps;  // per timed pass
  int64_t context;       // cache slots a request needs
  RoutingPolicy routing;
};

namespace {

// The requests of one point with their KV blocks, each from its DP group's pool; releases the
// blocks however the point ends.
class Batch {
 public:
  Batch(RankGroup& group, std::vector<Request> reqs, int64_t tokens_per_request) : group_(group), reqs_(std::move(reqs)) {
    kv_.resize(reqs_.size());
    // A constructor that throws runs no destructor: give back the earlier requests' blocks here.
    try {
      for (size_t i = 0; i < kv_.size(); ++i) {
        BlockAllocator& alloc = pool(i);
        kv_[i].blocks = alloc.allocate(alloc.blocks_for(tokens_per_request));
      }
    } catch (...) {
      release();
      throw;
    }
  }
  ~Batch() { release(); }
  size_t size() const { return reqs_.size(); }
  Request& request(size_t i) { return reqs_[i]; }
  SequenceKv& kv(size_t i) { return kv_[i]; }

 private:
  BlockAllocator& pool(size_t i) { return group_.blocks(group_.dp_group_of((int64_t)i, (int64_t)kv_.size())); }
  void release() {
    for (size_t i = 0; i < kv_.size(); ++i) pool(i).release(kv_[i].blocks);
  }
  RankGroup& group_;
  std::vector<Request> reqs_;
  std::vector<SequenceKv> kv_;
};

enum class Pass { Warmup, Timed, Profiled };

const char* pass_name(Pass p) { return p == Pass::Warmup ? "warmup" : p == Pass::Timed ? "timed" : "profiled"; }

std::string str(int64_t v) { return std::to_string(v); }

// Pinned routing belongs to one point: whatever way the point ends, later forwards route for real.
struct Unpin {
  RankGroup& model;
  ~Unpin() { model.unpin_routing(); }
};

// The start and end events of the timed forwards (on every rank), destroyed however the point ends.
struct EventPair {
  RankGroup& group;
  Event start = group.event_create(), end = group.event_create();
  ~EventPair() {
    group.event_destroy(start);
    group.event_destroy(end);
  }
};

// What one pass runs: warm-up (the prefill and up to 2 decode steps; captures the decode graph),
// timed (every step), profiled (the profiled prefill and the first profile_decode_steps steps).
struct PassPlan {
  Pass pass;
  bool prefill;
  int64_t decode_steps;
  RankProfilers* prof;  // the profiled pass's; null otherwise
  bool timed() const { return pass == Pass::Timed; }
  bool empty() const { return !prefill && decode_steps == 0; }
  int64_t forwards() const { return decode_steps + (prefill ? 1 : 0); }
};

PassPlan plan_pass(Pass pass, const PointOptions& o, const PointShape& p, RankProfilers& prof) {
  if (pass == Pass::Warmup) return {pass, p.prefill, std::min<int64_t>(p.decode_steps, 2), nullptr};
  if (pass == Pass::Timed) return {pass, p.prefill, p.decode_steps, nullptr};
  const int64_t steps = o.profile_decode ? std::min(p.decode_steps, o.profile_decode_steps) : 0;
  return {pass, p.prefill && o.profile_prefill, steps, &prof};
}

// One admitted point: its passes over the batch, their results and the traces of the profiled one.
class PointPasses {
 public:
  PointPasses(RankGroup& model, const PointOptions& o, const PointShape& shape, Batch& batch, bool graphs,
              const ProgressFn& progress, const std::function<void()>& check_cancel, PointResult& res)
      : model_(model), o_(o), p_(shape), batch_(batch), graphs_(graphs), progress_(progress),
        check_cancel_(check_cancel), res_(res), prof_(model), events_{model},
        mtp_(model, shape.K, o.mtp_accept, shape.context),
        decode_(model, mtp_, shape.routing, shape.K, shape.context, shape.prefill ? 1 : 0) {
    prompts_.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) prompts_[i] = &batch.request(i).input_ids;
  }

  // telemetry: sampled around the timed pass (null: none for this device).
  void run(Pass pass, TelemetrySource* telemetry) {
    const PassPlan plan = plan_pass(pass, o_, p_, prof_);
    if (pass == Pass::Profiled && plan.empty()) return;
    std::vector<DecodeState> reqs = start_requests();
    std::unique_ptr<TelemetrySampler> sampler;
    if (plan.timed() && telemetry) {
      sampler = std::make_unique<TelemetrySampler>(*telemetry, kTelemetryPeriodMs);
      sampler->start();
    }
    if (plan.prefill) {
      prefill(plan, reqs);
    } else {
      // Decode mode, or a profiled decode after an unprofiled prefill: the prompt counts as cached.
      for (size_t i = 0; i < batch_.size(); ++i) batch_.kv(i).num_tokens = p_.L;
      mtp_.seed_drafts(reqs);
    }
    // The energy counter between the prefill and the decode steps (at the start without a prefill).
    if (sampler) sampler->mark();
    for (int64_t s = 0; s < plan.decode_steps; ++s) decode_step(plan, reqs, s);
    if (sampler) {
      res_.telemetry = sampler->stop();
      res_.has_telemetry = true;
    }
  }

  void write_traces() {
    for (auto* t : {&prefill_trace_, &decode_trace_}) {
      if (t->empty()) continue;
      t->set_metadata("run_name", o_.run_name);
      t->set_metadata("device", model_.backend().name());
      t->set_metadata("batch_size", str(o_.batch_size));
      const Layout& l = model_.layout();
      if (l.world() > 1) {
        const LocalRanks& local = model_.local();
        const std::string whose = local.simulated       ? " (simulated: rank 0 alone, its collectives moving nothing)"
                                  : local.process.on() ? " (rank " + str(local.process.rank) + "'s ops: one process per rank)"
                                                       : " (rank 0's ops)";
        t->set_metadata("parallel", "tp " + str(l.tp) + " dp " + str(l.dp) + " ep " + str(l.ep) + whose);
      }
      t->set_metadata("input_len", str(p_.L));
      t->set_metadata("output_len", str(o_.output_len));
      if (model_.spec().is_moe()) t->set_metadata("moe_routing", p_.routing.text);
      if (p_.K > 0) {
        t->set_metadata("mtp_drafts", str(p_.K));
        t->set_metadata("mtp_accept", acceptance_text(o_.mtp_accept));
      }
      std::string path = o_.trace_prefix + (t == &prefill_trace_ ? "_prefill" : "_decode") + ".trace.json";
      t->write(path);
      res_.trace_files.push_back(path);
    }
  }

 private:
  // The last collect's ops of ranks 1.. (their trace tracks).
  std::vector<std::vector<OpTime>> other_ranks() const {
    std::vector<std::vector<OpTime>> out;
    for (int64_t r = 1; r < model_.world(); ++r) out.push_back(prof_.ops(r));
    return out;
  }

  // Every request before a pass: its last input id as the next token. Decode-only, the first
  // input_len tokens count as cached (fake KV); decode starts from the last input id.
  std::vector<DecodeState> start_requests() {
    std::vector<DecodeState> reqs(batch_.size());
    for (size_t i = 0; i < batch_.size(); ++i) {
      reqs[i] = DecodeState{&batch_.kv(i), batch_.request(i).input_ids.back(), std::vector<int32_t>(p_.K)};
      batch_.kv(i).num_tokens = p_.prefill ? 0 : p_.L;
    }
    return reqs;
  }

  void prefill(const PassPlan& plan, std::vector<DecodeState>& reqs) {
    const int64_t B = p_.B, L = p_.L;
    std::vector<SeqStep> seqs(B);
    for (int64_t i = 0; i < B; ++i) seqs[i] = SeqStep{&batch_.kv(i), batch_.request(i).input_ids.data(), L, 0};
    model_.pin_routing(p_.routing, 0, B * L);
    model_.event_record(events_.start);
    model_.forward(seqs, 0, plan.prof);
    const std::string prefill_form = model_.last_mla_form();
    // The prefill's time ends with its forward (the host reading the tokens is not in it)...
    if (p_.K == 0) model_.event_record(events_.end);
    const std::vector<int32_t> first = model_.next_tokens(B);
    for (int64_t i = 0; i < B; ++i) reqs[i].cur = first[i];
    // ...except with MTP, whose first drafts are part of the prefill, as in a server.
    if (p_.K > 0) {
      mtp_.draft_after_prefill(reqs, prompts_, plan.prof, nullptr);
      model_.event_record(events_.end);
    }
    model_.synchronize();  // the end event must be complete before it is read
    if (plan.timed()) {
      res_.prefill_ms = model_.event_elapsed_ms(events_.start, events_.end);
      res_.mla_prefill_form = prefill_form;
      res_.first_request_tokens.push_back(first[0]);
      if (p_.decode_steps == 0) res_.expert_counts = model_.expert_counts();
    }
    if (plan.prof) {
      res_.profiled_prefill = prof_.collect();
      prefill_trace_.add_step("prefill bs" + str(B) + " in" + str(L), res_.profiled_prefill, prof_.kernels(), other_ranks());
    }
    for (int64_t i = 0; i < B; ++i) batch_.kv(i).num_tokens = L;
    progress_({pass_name(plan.pass), 1, plan.forwards()});
    check_cancel_();
  }

  void decode_step(const PassPlan& plan, std::vector<DecodeState>& reqs, int64_t s) {
    double ctx = 0;
    for (size_t i = 0; i < batch_.size(); ++i) ctx += (double)(batch_.kv(i).num_tokens + 1) / (double)p_.B;
    const bool graph = graphs_ && plan.pass != Pass::Profiled;
    const int64_t emitted = decode_.run(reqs, s, plan.prof, graph, StepEvents{events_.start, events_.end},
                                        plan.timed() ? &res_.first_request_tokens : nullptr, nullptr);
    if (plan.timed()) {
      model_.synchronize();  // with MTP, the end event was recorded after the step's last host read
      res_.decode_step_ms.push_back(model_.event_elapsed_ms(events_.start, events_.end));
      res_.decode_context.push_back(ctx);
      res_.accepted_tokens.push_back(emitted);
      if (s == 0) res_.expert_counts = model_.expert_counts();
      if (s == 0) res_.mla_decode_form = model_.last_mla_form();
    }
    if (plan.prof) {
      auto ops = prof_.collect();
      decode_trace_.add_step("decode step " + str(s) + " ctx" + str((int64_t)ctx), ops, prof_.kernels(), other_ranks());
      res_.profiled_decode.insert(res_.profiled_decode.end(), ops.begin(), ops.end());
    }
    progress_({pass_name(plan.pass), s + 1 + (plan.prefill ? 1 : 0), plan.forwards()});
    check_cancel_();
  }

  RankGroup& model_;
  const PointOptions& o_;
  const PointShape& p_;
  Batch& batch_;
  const bool graphs_;
  const ProgressFn& progress_;
  const std::function<void()>& check_cancel_;
  PointResult& res_;
  RankProfilers prof_;
  EventPair events_;
  MtpDecoder mtp_;
  DecodeStep decode_;
  std::vector<const std::vector<int32_t>*> prompts_;
  ChromeTrace prefill_trace_, decode_trace_;
};

}  // namespace

void PointRunner::check_cancel() const {
  if (cancel_.load()) fail(ErrorCode::Aborted, "aborted");
}

void PointRunner::check_mtp(int64_t drafts, const Acceptance& accept, int64_t batch) const {
  const ModelRunnerOptions& mo = model_.options();
  if (drafts < 0) fail(ErrorCode::InvalidArgument, "mtp drafts " + str(drafts) + " is negative");
  if (drafts == 0) return;
  check_mtp_model(model_.spec());
  if (drafts > mo.max_drafts) {
    fail(ErrorCode::InvalidArgument, "mtp drafts " + str(drafts) + " exceeds the engine's maxDrafts " + str(mo.max_drafts));
  }
  check_acceptance(accept, drafts);
  if (batch * (1 + drafts) > std::max(mo.max_tokens_per_step, mo.max_batch)) {
    fail(ErrorCode::InvalidArgument, "MTP verification of " + str(batch * (1 + drafts)) + " tokens exceeds the engine's " +
                                         str(mo.max_tokens_per_step) + " tokens per step");
  }
}

PointShape PointRunner::check_point(const PointOptions& o) const {
  const ModelRunnerOptions& mo = model_.options();
  PointShape p;
  p.B = o.batch_size * model_.dp();
  p.L = o.input_len;
  p.K = o.mtp_drafts;
  p.prefill = o.mode != Mode::Decode;
  p.decode_steps = o.mode == Mode::Prefill ? 0 : o.mode == Mode::Both ? o.output_len - 1 : o.output_len;
  p.context = p.K > 0 ? mtp_context(p.L, p.decode_steps, p.K) : p.L + o.output_len;
  p.routing = o.moe_routing;
  const int64_t B = o.batch_size, L = p.L;  // per DP group: what each rank's buffers hold
  if (B < 1 || L < 1 || o.output_len < 1) fail(ErrorCode::InvalidArgument, "batch size, input and output length must be >= 1");
  if (B > mo.max_batch) fail(ErrorCode::InvalidArgument, "batch size " + str(B) + " exceeds the engine's max batch " + str(mo.max_batch));
  check_mtp(p.K, o.mtp_accept, B);
  if (p.context > mo.max_context) {
    fail(ErrorCode::InvalidArgument, "a request's context " + str(p.context) + " exceeds the engine's max context " + str(mo.max_context));
  }
  if (p.prefill && B * L > std::max(mo.max_tokens_per_step, mo.max_batch)) {
    fail(ErrorCode::InvalidArgument, "prefill of " + str(B * L) + " tokens exceeds the engine's " +
                                         str(mo.max_tokens_per_step) + " tokens per step");
  }
  check_batch_fits(model_.blocks(0), B, p.context, model_.kv().bytes_per_token());
  return p;
}

PointResult PointRunner::run(const PointOptions& o, const ProgressFn& progress) {
  const PointShape shape = check_point(o);
  const int64_t B = shape.B;
  progress({"waiting", 0, B});
  Admission adm = scheduler_.wait_for_batch((size_t)B, o.batch_timeout_ms);
  for (auto& r : adm.batch) {
    if ((int64_t)r.input_ids.size() != shape.L) {
      fail(ErrorCode::InvalidArgument, "request " + str(r.id) + " has " + str((int64_t)r.input_ids.size()) +
                                           " input ids, the point's input length is " + str(shape.L));
    }
  }
  progress({"admitted", B, B});
  Batch batch(model_, std::move(adm.batch), shape.context);
  // MTP steps run eagerly: the drafting reads the verification's tokens back on the host.
  const bool graphs = o.use_graphs && model_.backend().supports_graphs() && shape.K == 0;
  Unpin unpin{model_};

  model_.backend().take_kernel_paths();  // forget what ran before this point (peaks, other points)
  PointResult res;
  res.waiting_ms = adm.waiting_ms;
  res.used_graphs = graphs && shape.decode_steps > 0;
  res.routing = shape.routing.text;
  const std::function<void()> cancel = [this] { check_cancel(); };
  PointPasses passes(model_, o, shape, batch, graphs, progress, cancel, res);
  res.telemetry_reason = telemetry_.reason;
  passes.run(Pass::Warmup, nullptr);
  passes.run(Pass::Timed, telemetry_.source.get());
  if (o.profile_prefill || o.profile_decode) passes.run(Pass::Profiled, nullptr);
  if (!o.trace_prefix.empty()) passes.write_traces();
  res.kernel_paths = model_.backend().take_kernel_paths();
  progress({"done", 1, 1});
  return res;
}

GenerateResult PointRunner::generate(const std::vector<int32_t>& prompt, int64_t steps, const GenerateOptions& o) {
  const int64_t L = (int64_t)prompt.size(), K = o.mtp_drafts;
  const Acceptance& accept = o.mtp_accept;
  const RoutingPolicy& routing = o.moe_routing;
  if (routing.pinned() && K > 0) fail(ErrorCode::InvalidArgument, "generate pins MoE routing only without MTP drafts");
  const int64_t context = K > 0 ? mtp_context(L, steps, K) : L + steps + 1;
  if (L < 1 || steps < 0) fail(ErrorCode::InvalidArgument, "generate needs a non-empty prompt and steps >= 0");
  check_mtp(K, accept, 1);
  if (context > model_.options().max_context || L > model_.options().max_tokens_per_step) {
    fail(ErrorCode::InvalidArgument, "prompt of " + str(L) + " tokens + " + str(steps) + " steps exceeds the engine's limits");
  }
  Unpin unpin{model_};
  // One request per DP group: group d's prompt is `prompt` rotated left by d tokens.
  const int64_t dp = model_.dp();
  std::vector<std::vector<int32_t>> prompts(dp, prompt);
  std::vector<Request> requests;
  for (int64_t d = 0; d < dp; ++d) {
    std::rotate(prompts[d].begin(), prompts[d].begin() + d % L, prompts[d].end());
    requests.push_back(Request{d, prompts[d]});
  }
  Batch batch(model_, std::move(requests), context);
  const bool graphs = o.use_graphs && model_.backend().supports_graphs() && K == 0;
  model_.backend().take_kernel_paths();
  GenerateResult g;
  std::vector<DecodeState> reqs;
  std::vector<SeqStep> seqs;
  std::vector<const std::vector<int32_t>*> prompt_of;
  for (int64_t d = 0; d < dp; ++d) {
    reqs.push_back(DecodeState{&batch.kv(d), 0, std::vector<int32_t>(K)});
    seqs.push_back(SeqStep{&batch.kv(d), batch.request(d).input_ids.data(), L, 0});
    prompt_of.push_back(&batch.request(d).input_ids);
  }
  model_.pin_routing(routing, 0, L * dp);
  model_.forward(seqs, 0, nullptr);
  g.mla_prefill_form = model_.last_mla_form();
  const std::vector<int32_t> first = model_.next_tokens(dp);
  for (int64_t d = 0; d < dp; ++d) reqs[d].cur = first[d];
  g.tokens.push_back(reqs[0].cur);
  g.logits.push_back(model_.logits(1));
  MtpDecoder mtp(model_, K, accept, context);
  MtpRecord rec;
  if (K > 0) mtp.draft_after_prefill(reqs, prompt_of, nullptr, &rec);
  for (int64_t d = 0; d < dp; ++d) batch.kv(d).num_tokens = L;
  DecodeStep decode(model_, mtp, routing, K, context, 1);
  for (int64_t s = 0; s < steps; ++s) {
    check_cancel();
    decode.run(reqs, s, nullptr, graphs, StepEvents{}, &g.tokens, &rec);
    // With MTP the record keeps the logits of every emitted token; without, they are the step's.
    if (K == 0) g.logits.push_back(model_.logits(1));
  }
  g.logits.insert(g.logits.end(), rec.logits.begin(), rec.logits.end());
  g.drafts = std::move(rec.drafts);
  g.draft_logits = std::move(rec.draft_logits);
  g.accepted = std::move(rec.accepted);
  g.kernel_paths = model_.backend().take_kernel_paths();
  return g;
}

}  // namespace gpubench
