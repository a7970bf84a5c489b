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

namespace {

// The communicators of the layout's groups, the one place that chooses their kind: null ones for a
// simulated layout (rank 0 alone), joined by id for a launch's process (its peers are other
// processes: NCCL, or none where the layout has no collective), host ones for ranks on the CPU
// (they read the ranks' memory directly), NCCL's for ranks on GPUs.
std::unique_ptr<LayoutComms> make_comms(const ModelSpec& spec, const Layout& layout, const LocalRanks& local,
                                        const std::vector<std::unique_ptr<Backend>>& backends) {
  if (local.simulated) return null_layout_comms(layout);
  const bool cpu = backends[0]->name() == "cpu";
  if (local.process.on()) {
    if (cpu && layout_has_collectives(spec, layout)) {
      fail(ErrorCode::InvalidArgument,
           "tp " + std::to_string(layout.tp) + ", dp " + std::to_string(layout.dp) + ", ep " + std::to_string(layout.ep) + " over " +
               std::to_string(layout.world()) +
               " CPU processes needs collectives between the processes, which the host communicator cannot make: it joins "
               "the threads of one process (allowed: on the CPU over processes, dp replicas of a dense model; any layout in "
               "one CPU process; collectives between processes on CUDA, over NCCL)");
    }
    return process_layout_comms(spec, shard_spec(spec, layout, local.process.rank), local.process, *backends[0]);
  }
  if (layout.world() > 1 && !cpu) {
    std::vector<Backend*> raw;
    for (auto& be : backends) raw.push_back(be.get());
    return nccl_layout_comms(layout, raw);
  }
  return host_layout_comms(layout);
}

}  // namespace

RankGroup::RankGroup(std::vector<std::unique_ptr<Backend>> backends, const ModelSpec& spec, const Layout& layout,
                     const ModelRunnerOptions& opts, const LocalRanks& local)
    : spec_(spec), layout_(layout), local_(local), groups_(local.all() ? layout.dp : 1), opts_(opts),
      backends_(std::move(backends)) {
  const int64_t W = local.count(layout);
  if ((int64_t)backends_.size() != W) {
    fail(ErrorCode::Internal, std::to_string(backends_.size()) + " backends for " + std::to_string(W) + " local ranks");
  }
  comms_ = make_comms(spec, layout, local, backends_);
  if (W > 1) {
    std::vector<Backend*> raw;
    for (auto& be : backends_) raw.push_back(be.get());
    threads_ = std::make_unique<RankThreads>(raw);
  }
  runners_.resize(W);
  rank_comms_.resize(W);
  parts_.resize(groups_);
  try {
    each([&](int64_t r) {
      const ShardSpec shard = shard_spec(spec, layout, local.first() + r);
      rank_comms_[r] = comms_->of(shard);
      runners_[r] = std::make_unique<ModelRunner>(*backends_[r], spec, shard, rank_comms_[r], opts);
    });
  } catch (...) {
    each([&](int64_t r) { runners_[r].reset(); });
    throw;
  }
  for (auto& runner : runners_) opts_.kv_pool_tokens = std::min(opts_.kv_pool_tokens, runner->options().kv_pool_tokens);
  for (int64_t d = 0; d < groups_; ++d) {
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

void RankGroup::each(const std::function<void(int64_t)>& fn) {
  if (!threads_) {
    try {
      fn(0);
    } catch (...) {
      // Peers in other processes may wait in a collective: this rank's groups end.
      comms_->abort();
      comms_->reset();
      throw;
    }
    return;
  }
  const std::vector<std::exception_ptr> errors = threads_->run(fn, [this] { comms_->abort(); });
  if (std::none_of(errors.begin(), errors.end(), [](const std::exception_ptr& e) { return e != nullptr; })) return;
  comms_->reset();
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
  const int64_t n = (int64_t)seqs.size(), dp = groups_;
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
  each([&](int64_t r) { runners_[r]->forward(parts_[group_of(r)], ctx_bound, prof ? prof->rank(r) : nullptr); });
}

void RankGroup::forward_graph(const std::vector<SeqStep>& seqs, int64_t ctx_bound) {
  split(seqs);
  each([&](int64_t r) { runners_[r]->forward_graph(parts_[group_of(r)], ctx_bound); });
}

void RankGroup::forward_mtp(const std::vector<SeqStep>& seqs, int64_t ctx_bound, RankProfilers* prof, int64_t j,
                            bool from_main) {
  split(seqs);
  each([&](int64_t r) {
    runners_[r]->forward_mtp(parts_[group_of(r)], ctx_bound, prof ? prof->rank(r) : nullptr, j, from_main);
  });
}

void RankGroup::pin_routing(const RoutingPolicy& policy, int64_t step, int64_t num_tokens) {
  // Simulated or in a launch's process, the MoE blocks still see every DP group's tokens.
  const int64_t moe_tokens = num_tokens * (layout_.dp / groups_);
  each([&](int64_t r) { runners_[r]->pin_routing(policy, step, moe_tokens); });
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
  const int64_t per = rows / groups_;
  std::vector<std::vector<int32_t>> parts(groups_);
  each([&](int64_t r) {
    if (r == 0 || group_of(r) != group_of(r - 1)) parts[group_of(r)] = runners_[r]->next_tokens(per);
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

BusPeak RankGroup::measure_bus() {
  if (local_.simulated || layout_.world() == 1) return BusPeak{};
  // Rank 0's TP group (ranks 0 .. tp - 1), or with tp 1 its DP group (every rank).
  const bool tp = layout_.tp > 1;
  const int64_t n = tp ? layout_.tp : layout_.dp;
  const int64_t bytes = bus_bytes(*backends_[0]);
  std::vector<std::vector<double>> ms(world());
  each([&](int64_t r) {
    Communicator* c = tp ? rank_comms_[r].tp : rank_comms_[r].dp;
    if (local_.first() + r < n && c) ms[r] = time_all_reduce(*backends_[r], *c, bytes);
  });
  ms.erase(std::remove_if(ms.begin(), ms.end(), [](const std::vector<double>& m) { return m.empty(); }), ms.end());
  return ms.empty() ? BusPeak{} : bus_peak(ms, bytes, (int)n);
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
