#include "engine/point_runner.h"

#include <string>

#include "base/error.h"
#include "core/routing.h"
#include "engine/trace.h"

namespace gpubench {

namespace {

// The requests of one point with their KV blocks; releases the blocks however the point ends.
class Batch {
 public:
  Batch(BlockAllocator& alloc, std::vector<Request> reqs, int64_t tokens_per_request) : alloc_(alloc), reqs_(std::move(reqs)) {
    kv_.resize(reqs_.size());
    for (auto& s : kv_) s.blocks = alloc_.allocate(alloc_.blocks_for(tokens_per_request));
  }
  ~Batch() {
    for (auto& s : kv_) alloc_.release(s.blocks);
  }
  size_t size() const { return reqs_.size(); }
  Request& request(size_t i) { return reqs_[i]; }
  SequenceKv& kv(size_t i) { return kv_[i]; }

 private:
  BlockAllocator& alloc_;
  std::vector<Request> reqs_;
  std::vector<SequenceKv> kv_;
};

enum class Pass { Warmup, Timed, Profiled };

const char* pass_name(Pass p) { return p == Pass::Warmup ? "warmup" : p == Pass::Timed ? "timed" : "profiled"; }

std::string str(int64_t v) { return std::to_string(v); }

// Pinned routing belongs to one point: whatever way the point ends, later forwards route for real.
struct Unpin {
  ModelRunner& model;
  ~Unpin() { model.unpin_routing(); }
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

PointResult PointRunner::run(const PointOptions& o, const ProgressFn& progress) {
  const ModelRunnerOptions& mo = model_.options();
  const bool prefill = o.mode != Mode::Decode;
  const int64_t B = o.batch_size, L = o.input_len, K = o.mtp_drafts;
  const int64_t decode_steps = o.mode == Mode::Prefill ? 0 : o.mode == Mode::Both ? o.output_len - 1 : o.output_len;
  const int64_t context = K > 0 ? mtp_context(L, decode_steps, K) : L + o.output_len;
  const RoutingPolicy routing = parse_routing(o.moe_routing);
  if (B < 1 || L < 1 || o.output_len < 1) fail(ErrorCode::InvalidArgument, "batch size, input and output length must be >= 1");
  if (B > mo.max_batch) fail(ErrorCode::InvalidArgument, "batch size " + str(B) + " exceeds the engine's max batch " + str(mo.max_batch));
  check_mtp(K, o.mtp_accept, B);
  if (context > mo.max_context) {
    fail(ErrorCode::InvalidArgument, "a request's context " + str(context) + " exceeds the engine's max context " + str(mo.max_context));
  }
  if (prefill && B * L > std::max(mo.max_tokens_per_step, mo.max_batch)) {
    fail(ErrorCode::InvalidArgument, "prefill of " + str(B * L) + " tokens exceeds the engine's " +
                                         str(mo.max_tokens_per_step) + " tokens per step");
  }
  check_batch_fits(model_.blocks(), B, context, model_.kv().bytes_per_token());

  progress({"waiting", 0, B});
  Admission adm = scheduler_.wait_for_batch((size_t)B, o.batch_timeout_ms);
  for (auto& r : adm.batch) {
    if ((int64_t)r.input_ids.size() != L) {
      fail(ErrorCode::InvalidArgument, "request " + str(r.id) + " has " + str((int64_t)r.input_ids.size()) +
                                           " input ids, the point's input length is " + str(L));
    }
  }
  progress({"admitted", B, B});
  Batch batch(model_.blocks(), std::move(adm.batch), context);
  Backend& be = model_.backend();
  // MTP steps run eagerly: the drafting reads the verification's tokens back on the host.
  const bool graphs = o.use_graphs && be.supports_graphs() && K == 0;
  std::vector<const std::vector<int32_t>*> prompts(B);
  for (int64_t i = 0; i < B; ++i) prompts[i] = &batch.request(i).input_ids;
  MtpDecoder mtp(model_, K, o.mtp_accept, context);
  Unpin unpin{model_};

  PointResult res;
  res.waiting_ms = adm.waiting_ms;
  res.used_graphs = graphs && decode_steps > 0;
  res.routing = routing.text;
  Event t0 = be.event_create(), t1 = be.event_create();
  Profiler prof(be);
  ChromeTrace prefill_trace, decode_trace;

  auto run_pass = [&](Pass pass) {
    const bool timed = pass == Pass::Timed;
    int64_t steps = pass == Pass::Warmup ? std::min<int64_t>(decode_steps, 2)
                    : pass == Pass::Profiled ? (o.profile_decode ? std::min(decode_steps, o.profile_decode_steps) : 0)
                                             : decode_steps;
    bool do_prefill = prefill && (pass != Pass::Profiled || o.profile_prefill);
    if (pass == Pass::Profiled && !do_prefill && steps == 0) return;
    Profiler* p = pass == Pass::Profiled ? &prof : nullptr;
    int64_t total = steps + (do_prefill ? 1 : 0);
    std::vector<DecodeState> reqs(B);
    std::vector<SeqStep> seqs(B);
    // Decode-only: the first input_len tokens count as cached (fake KV); decode starts from the last input id.
    for (int64_t i = 0; i < B; ++i) {
      reqs[i] = DecodeState{&batch.kv(i), batch.request(i).input_ids.back(), std::vector<int32_t>(K)};
      batch.kv(i).num_tokens = prefill ? 0 : L;
    }
    if (do_prefill) {
      for (int64_t i = 0; i < B; ++i) seqs[i] = SeqStep{&batch.kv(i), batch.request(i).input_ids.data(), L, 0};
      model_.pin_routing(routing, 0, B * L);
      be.event_record(t0);
      model_.forward(seqs, 0, p);
      // The prefill's time ends with its forward (the host reading the tokens is not in it)...
      if (K == 0) be.event_record(t1);
      const std::vector<int32_t> first = model_.next_tokens(B);
      for (int64_t i = 0; i < B; ++i) reqs[i].cur = first[i];
      // ...except with MTP, whose first drafts are part of the prefill, as in a server.
      if (K > 0) {
        mtp.draft_after_prefill(reqs, prompts, p, nullptr);
        be.event_record(t1);
      }
      be.synchronize();  // t1 must be complete before it is read
      if (timed) {
        res.prefill_ms = be.event_elapsed_ms(t0, t1);
        res.first_request_tokens.push_back(first[0]);
        if (decode_steps == 0) res.expert_counts = model_.expert_counts();
      }
      if (pass == Pass::Profiled) {
        res.profiled_prefill = prof.collect();
        prefill_trace.add_step("prefill bs" + str(B) + " in" + str(L), res.profiled_prefill, prof.kernels());
      }
      for (int64_t i = 0; i < B; ++i) batch.kv(i).num_tokens = L;
      progress({pass_name(pass), 1, total});
      check_cancel();
    } else {
      // Decode mode, or a profiled decode after an unprofiled prefill: the prompt counts as cached.
      for (int64_t i = 0; i < B; ++i) batch.kv(i).num_tokens = L;
      mtp.seed_drafts(reqs);
    }
    for (int64_t s = 0; s < steps; ++s) {
      double ctx = 0;
      for (int64_t i = 0; i < B; ++i) ctx += (double)(batch.kv(i).num_tokens + 1) / (double)B;
      // Steps are numbered from the point's first forward, so every pass pins the same experts.
      model_.pin_routing(routing, s + (prefill ? 1 : 0), B * (1 + K));
      int64_t emitted = B;
      be.event_record(t0);
      if (K > 0) {
        emitted = mtp.step(reqs, s, p, timed ? &res.first_request_tokens : nullptr, nullptr);
      } else {
        for (int64_t i = 0; i < B; ++i) seqs[i] = SeqStep{&batch.kv(i), &reqs[i].cur, 1, batch.kv(i).num_tokens};
        if (graphs && pass != Pass::Profiled) {
          model_.forward_graph(seqs, context);
        } else {
          model_.forward(seqs, context, p);
        }
      }
      be.event_record(t1);
      if (K == 0) {
        const std::vector<int32_t> next = model_.next_tokens(B);
        for (int64_t i = 0; i < B; ++i) {
          reqs[i].cur = next[i];
          batch.kv(i).num_tokens += 1;
        }
        if (timed) res.first_request_tokens.push_back(next[0]);
      }
      if (timed) {
        be.synchronize();  // with MTP, t1 was recorded after the step's last host read
        res.decode_step_ms.push_back(be.event_elapsed_ms(t0, t1));
        res.decode_context.push_back(ctx);
        res.accepted_tokens.push_back(emitted);
        if (s == 0) res.expert_counts = model_.expert_counts();
      }
      if (pass == Pass::Profiled) {
        auto ops = prof.collect();
        decode_trace.add_step("decode step " + str(s) + " ctx" + str((int64_t)ctx), ops, prof.kernels());
        res.profiled_decode.insert(res.profiled_decode.end(), ops.begin(), ops.end());
      }
      progress({pass_name(pass), s + 1 + (do_prefill ? 1 : 0), total});
      check_cancel();
    }
  };

  try {
    run_pass(Pass::Warmup);
    run_pass(Pass::Timed);
    if (o.profile_prefill || o.profile_decode) run_pass(Pass::Profiled);
  } catch (...) {
    be.event_destroy(t0);
    be.event_destroy(t1);
    throw;
  }
  be.event_destroy(t0);
  be.event_destroy(t1);

  if (!o.trace_prefix.empty()) {
    for (auto* t : {&prefill_trace, &decode_trace}) {
      if (t->empty()) continue;
      t->set_metadata("run_name", o.run_name);
      t->set_metadata("device", be.name());
      t->set_metadata("batch_size", str(B));
      t->set_metadata("input_len", str(L));
      t->set_metadata("output_len", str(o.output_len));
      if (model_.spec().is_moe()) t->set_metadata("moe_routing", routing.text);
      if (K > 0) {
        t->set_metadata("mtp_drafts", str(K));
        t->set_metadata("mtp_accept", acceptance_text(o.mtp_accept));
      }
      std::string path = o.trace_prefix + (t == &prefill_trace ? "_prefill" : "_decode") + ".trace.json";
      t->write(path);
      res.trace_files.push_back(path);
    }
  }
  progress({"done", 1, 1});
  return res;
}

GenerateResult PointRunner::generate(const std::vector<int32_t>& prompt, int64_t steps, const GenerateOptions& o) {
  const int64_t L = (int64_t)prompt.size(), K = o.mtp_drafts;
  const Acceptance& accept = o.mtp_accept;
  const RoutingPolicy routing = parse_routing(o.moe_routing);
  if (routing.pinned() && K > 0) fail(ErrorCode::InvalidArgument, "generate pins MoE routing only without MTP drafts");
  const int64_t context = K > 0 ? mtp_context(L, steps, K) : L + steps + 1;
  if (L < 1 || steps < 0) fail(ErrorCode::InvalidArgument, "generate needs a non-empty prompt and steps >= 0");
  check_mtp(K, accept, 1);
  if (context > model_.options().max_context || L > model_.options().max_tokens_per_step) {
    fail(ErrorCode::InvalidArgument, "prompt of " + str(L) + " tokens + " + str(steps) + " steps exceeds the engine's limits");
  }
  Unpin unpin{model_};
  Batch batch(model_.blocks(), {Request{0, prompt}}, context);
  const bool graphs = o.use_graphs && model_.backend().supports_graphs() && K == 0;
  GenerateResult g;
  SequenceKv& kv = batch.kv(0);
  std::vector<DecodeState> reqs{DecodeState{&kv, 0, std::vector<int32_t>(K)}};
  model_.pin_routing(routing, 0, L);
  model_.forward({SeqStep{&kv, prompt.data(), L, 0}}, 0, nullptr);
  reqs[0].cur = model_.next_tokens(1)[0];
  g.tokens.push_back(reqs[0].cur);
  g.logits.push_back(model_.logits(1));
  MtpDecoder mtp(model_, K, accept, context);
  MtpRecord rec;
  if (K > 0) mtp.draft_after_prefill(reqs, {&prompt}, nullptr, &rec);
  kv.num_tokens = L;
  for (int64_t s = 0; s < steps; ++s) {
    check_cancel();
    if (K > 0) {
      mtp.step(reqs, s, nullptr, &g.tokens, &rec);
      continue;
    }
    std::vector<SeqStep> seqs{SeqStep{&kv, &reqs[0].cur, 1, kv.num_tokens}};
    model_.pin_routing(routing, s + 1, 1);
    if (graphs) {
      model_.forward_graph(seqs, context);
    } else {
      model_.forward(seqs, context, nullptr);
    }
    kv.num_tokens += 1;
    reqs[0].cur = model_.next_tokens(1)[0];
    g.tokens.push_back(reqs[0].cur);
    g.logits.push_back(model_.logits(1));
  }
  g.logits.insert(g.logits.end(), rec.logits.begin(), rec.logits.end());
  g.drafts = std::move(rec.drafts);
  g.draft_logits = std::move(rec.draft_logits);
  g.accepted = std::move(rec.accepted);
  return g;
}

}  // namespace gpubench
