#include "engine/rank_group.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "base/error.h"

namespace gpubench {

// One thread per rank, bound to its backend's device, running the job each run() hands out.
class RankThreads {
 public:
  explicit RankThreads(const std::vector<Backend*>& backends) : errors_(backends.size()) {
    for (size_t r = 0; r < backends.size(); ++r) threads_.emplace_back([this, r, be = backends[r]] { loop((int64_t)r, *be); });
  }
  ~RankThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // fn(r) on every thread; on_error runs on a failing rank's thread right away (to release its
  // peers). Returns each rank's error (null where it succeeded).
  std::vector<std::exception_ptr> run(const std::function<void(int64_t)>& fn, const std::function<void()>& on_error) {
    std::unique_lock<std::mutex> lock(mu_);
    fn_ = &fn;
    on_error_ = &on_error;
    std::fill(errors_.begin(), errors_.end(), nullptr);
    pending_ = (int)threads_.size();
    ++generation_;
    wake_.notify_all();
    done_.wait(lock, [&] { return pending_ == 0; });
    return errors_;
  }

 private:
  void loop(int64_t r, Backend& be) {
    uint64_t seen = 0;
    bool bound = false;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      const auto* fn = fn_;
      const auto* on_error = on_error_;
      lock.unlock();
      std::exception_ptr error;
      try {
        if (!bound) be.bind_thread();
        bound = true;
        (*fn)(r);
      } catch (...) {
        error = std::current_exception();
        (*on_error)();
      }
      lock.lock();
      errors_[r] = error;
      if (--pending_ == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  const std::function<void(int64_t)>* fn_ = nullptr;
  const std::function<void()>* on_error_ = nullptr;
  std::vector<std::exception_ptr> errors_;
};

RankGroup::RankGroup(std::vector<std::unique_ptr<Backend>> backends, const ModelSpec& spec, const Layout& layout,
                     const ModelRunnerOptions& opts)
    : spec_(spec), layout_(layout), opts_(opts), backends_(std::move(backends)) {
  const int64_t W = layout.world();
  if ((int64_t)backends_.size() != W) {
    fail(ErrorCode::Internal, std::to_string(backends_.size()) + " backends for a layout of " + std::to_string(W) + " ranks");
  }
  // The host communicator reads the ranks' memory directly; device memory needs NCCL's.
  if (W > 1 && backends_[0]->name() != "cpu") {
    fail(ErrorCode::InvalidArgument, "tp * dp = " + std::to_string(W) + " on " + backends_[0]->name() +
                                         " needs the NCCL communicator, which this build does not have (allowed: tp and dp 1, "
                                         "or the cpu device)");
  }
  for (int64_t d = 0; d < layout.dp && layout.tp > 1; ++d) tp_comms_.push_back(std::make_unique<HostComms>((int)layout.tp));
  for (int64_t t = 0; t < layout.tp && layout.dp > 1; ++t) dp_comms_.push_back(std::make_unique<HostComms>((int)layout.dp));
  if (W > 1) {
    std::vector<Backend*> raw;
    for (auto& be : backends_) raw.push_back(be.get());
    threads_ = std::make_unique<RankThreads>(raw);
  }
  runners_.resize(W);
  parts_.resize(layout.dp);
  try {
    each([&](int64_t r) {
      const ShardSpec shard = shard_spec(spec, layout, r);
      RankComms comms;
      if (layout.tp > 1) comms.tp = tp_comms_[shard.dp_rank]->ranks[shard.tp_rank].get();
      if (layout.dp > 1) comms.dp = dp_comms_[shard.tp_rank]->ranks[shard.dp_rank].get();
      runners_[r] = std::make_unique<ModelRunner>(*backends_[r], spec, shard, comms, opts);
    });
  } catch (...) {
    each([&](int64_t r) { runners_[r].reset(); });
    throw;
  }
  for (auto& runner : runners_) opts_.kv_pool_tokens = std::min(opts_.kv_pool_tokens, runner->options().kv_pool_tokens);
  for (int64_t d = 0; d < layout.dp; ++d) {
    blocks_.push_back(std::make_unique<BlockAllocator>(opts_.kv_pool_tokens / opts.block_size, opts.block_size));
  }
}

RankGroup::~RankGroup() {
  try {
    each([&](int64_t r) { runners_[r].reset(); });  // each rank's device memory from its own thread
  } catch (...) {
  }
  threads_.reset();
}

void RankGroup::abort_collectives() {
  for (auto* comms : {&tp_comms_, &dp_comms_})
    for (auto& c : *comms) c->group->abort();
}

void RankGroup::each(const std::function<void(int64_t)>& fn) {
  if (!threads_) {
    fn(0);
    return;
  }
  const std::vector<std::exception_ptr> errors = threads_->run(fn, [this] { abort_collectives(); });
  if (std::none_of(errors.begin(), errors.end(), [](const std::exception_ptr& e) { return e != nullptr; })) return;
  for (auto* comms : {&tp_comms_, &dp_comms_})
    for (auto& c : *comms) c->group->reset();
  // The failed rank's own error, not its peers' abandoned collectives.
  std::exception_ptr first;
  for (const auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const CollectiveAbandoned&) {
      if (!first) first = e;
      continue;
    } catch (...) {
      throw;
    }
  }
  std::rethrow_exception(first);
}

void RankGroup::on_rank(int64_t r, const std::function<void()>& fn) {
  each([&](int64_t k) {
    if (k == r) fn();
  });
}

void RankGroup::split(const std::vector<SeqStep>& seqs) {
  const int64_t n = (int64_t)seqs.size(), dp = layout_.dp;
  if (n % dp) {
    fail(ErrorCode::Internal, "a step of " + std::to_string(n) + " sequences does not split over " + std::to_string(dp) +
                                  " DP groups");
  }
  int64_t tokens = -1;
  for (int64_t d = 0; d < dp; ++d) {
    parts_[d].assign(seqs.begin() + d * n / dp, seqs.begin() + (d + 1) * n / dp);
    int64_t t = 0;
    for (const auto& s : parts_[d]) t += s.num_tokens;
    // DP attention gathers equal shares of tokens before each MoE block.
    if (tokens >= 0 && t != tokens) {
      fail(ErrorCode::Internal, "DP group " + std::to_string(d) + " has " + std::to_string(t) + " tokens in the step, group 0 " +
                                    std::to_string(tokens));
    }
    tokens = t;
  }
}

void RankGroup::forward(const std::vector<SeqStep>& seqs, int64_t ctx_bound, RankProfilers* prof) {
  split(seqs);
  each([&](int64_t r) { runners_[r]->forward(parts_[r / layout_.tp], ctx_bound, prof ? prof->rank(r) : nullptr); });
}

void RankGroup::forward_graph(const std::vector<SeqStep>& seqs, int64_t ctx_bound) {
  split(seqs);
  each([&](int64_t r) { runners_[r]->forward_graph(parts_[r / layout_.tp], ctx_bound); });
}

void RankGroup::forward_mtp(const std::vector<SeqStep>& seqs, int64_t ctx_bound, RankProfilers* prof, int64_t j,
                            bool from_main) {
  split(seqs);
  each([&](int64_t r) {
    runners_[r]->forward_mtp(parts_[r / layout_.tp], ctx_bound, prof ? prof->rank(r) : nullptr, j, from_main);
  });
}

void RankGroup::pin_routing(const RoutingPolicy& policy, int64_t step, int64_t num_tokens) {
  each([&](int64_t r) { runners_[r]->pin_routing(policy, step, num_tokens); });
}

void RankGroup::unpin_routing() {
  for (auto& runner : runners_) runner->unpin_routing();
}

std::vector<int64_t> RankGroup::expert_counts() {
  std::vector<int64_t> out;
  on_rank(0, [&] { out = runners_[0]->expert_counts(); });
  return out;
}

std::vector<int32_t> RankGroup::next_tokens(int64_t rows) {
  const int64_t per = rows / layout_.dp;
  std::vector<std::vector<int32_t>> parts(layout_.dp);
  each([&](int64_t r) {
    if (r % layout_.tp == 0) parts[r / layout_.tp] = runners_[r]->next_tokens(per);
  });
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<float> RankGroup::logits(int64_t rows) {
  std::vector<float> out;
  on_rank(0, [&] { out = runners_[0]->logits(rows); });
  return out;
}

Event RankGroup::event_create() {
  auto* events = new std::vector<Event>(world());
  each([&](int64_t r) { (*events)[r] = backends_[r]->event_create(); });
  return events;
}

void RankGroup::event_record(Event e) {
  auto& events = *static_cast<std::vector<Event>*>(e);
  each([&](int64_t r) { backends_[r]->event_record(events[r]); });
}

float RankGroup::event_elapsed_ms(Event start, Event end) {
  auto& a = *static_cast<std::vector<Event>*>(start);
  auto& b = *static_cast<std::vector<Event>*>(end);
  std::vector<float> ms(world());
  each([&](int64_t r) { ms[r] = backends_[r]->event_elapsed_ms(a[r], b[r]); });
  return *std::max_element(ms.begin(), ms.end());
}

void RankGroup::event_destroy(Event e) {
  auto* events = static_cast<std::vector<Event>*>(e);
  try {
    each([&](int64_t r) { backends_[r]->event_destroy((*events)[r]); });
  } catch (...) {
  }
  delete events;
}

void RankGroup::synchronize() {
  each([&](int64_t r) { backends_[r]->synchronize(); });
}

RankProfilers::RankProfilers(RankGroup& group) : group_(group), ops_(group.world()) {
  for (int64_t r = 0; r < group.world(); ++r) profilers_.push_back(std::make_unique<Profiler>(group.backend(r)));
}

RankProfilers::~RankProfilers() {
  try {
    group_.each([&](int64_t r) { profilers_[r].reset(); });
  } catch (...) {
  }
}

std::vector<OpTime> RankProfilers::collect() {
  group_.each([&](int64_t r) { ops_[r] = profilers_[r]->collect(); });
  return ops_[0];
}

}  // namespace gpubench
