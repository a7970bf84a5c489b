// The ranks of a parallel layout (core/layout.h) that run in this process, as nccl-tests drives
// several GPUs: one thread per rank, each with its own backend and ModelRunner (its shard of the
// weights, its KV pool, activations), stepping in lockstep. RankGroup offers the step calls of
// ModelRunner, so the protocol (PointRunner, DecodeStep, MtpDecoder) reads the same for one rank or many:
// - a step's sequences are split over the DP groups here in order, equal shares (DP group d runs
//   sequences [d n / dp, (d + 1) n / dp)); every TP rank of a group runs its group's;
// - tokens and logits come from each DP group's first rank here (all ranks of a group hold the same);
// - a step's time is the slowest rank's here (events on every rank, the longest span);
// - a rank that fails mid-step aborts its peers' collectives, and its error is the step's.
// Which ranks run here (LocalRanks): every rank of the layout; rank 0 alone with the shard the full
// layout gives it and collectives that move nothing (simulated: docs/design.md, "Estimates"; one DP
// group, its compute rank 0's real share, its tokens meaningless); or one rank of a launch whose
// other ranks are other processes (its own DP group's batch, its groups joined over NCCL). One rank
// runs on the calling thread, as before layouts existed.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/kv_cache.h"
#include "core/layout.h"
#include "core/profiler.h"
#include "core/routing.h"
#include "core/step.h"
#include "engine/model_runner.h"
#include "engine/peaks.h"
#include "engine/rank_comms.h"

namespace gpubench {

class RankThreads;
class RankProfilers;

// Which of a layout's ranks run in this process: all of them (the default), rank 0 alone
// (simulated), or the one rank of a launch's process (process.on()).
struct LocalRanks {
  bool simulated = false;
  ProcessRank process;
  bool all() const { return !simulated && !process.on(); }
  int64_t count(const Layout& l) const { return all() ? l.world() : 1; }
  int64_t first() const { return process.on() ? process.rank : 0; }  // the layout's rank of local rank 0
};

class RankGroup {
 public:
  // backends[r] is local rank r's (local.count(layout) of them), local rank r the layout's rank
  // local.first() + r. Builds every rank's ModelRunner on its own thread; the KV pools are used up
  // to the smallest rank's.
  RankGroup(std::vector<std::unique_ptr<Backend>> backends, const ModelSpec& spec, const Layout& layout,
            const ModelRunnerOptions& opts, const LocalRanks& local = {});
  ~RankGroup();
  RankGroup(const RankGroup&) = delete;
  RankGroup& operator=(const RankGroup&) = delete;

  // fn(r) on every local rank's thread; returns when all are done, rethrowing a failed rank's error.
  void each(const std::function<void(int64_t rank)>& fn);
  // fn on local rank r's thread only (0: peaks, op benchmarks).
  void on_rank(int64_t r, const std::function<void()>& fn);

  // ModelRunner's step calls over the local ranks (seqs: every local DP group's, in order).
  void forward(const std::vector<SeqStep>& seqs, int64_t ctx_bound, RankProfilers* prof);
  void forward_graph(const std::vector<SeqStep>& seqs, int64_t ctx_bound);
  void forward_mtp(const std::vector<SeqStep>& seqs, int64_t ctx_bound, RankProfilers* prof, int64_t j, bool from_main);
  // num_tokens: the step's tokens over all DP groups (what an MoE block sees).
  void pin_routing(const RoutingPolicy& policy, int64_t step, int64_t num_tokens);
  void unpin_routing();
  std::vector<int64_t> expert_counts();  // local rank 0's: every token's, under DP attention too
  // The greedy token of the last step's first `rows` logit rows, rows / dp() from each local DP group.
  std::vector<int32_t> next_tokens(int64_t rows);
  // The logits of the first local DP group's first `rows` logit rows.
  std::vector<float> logits(int64_t rows);

  // Device events on every local rank (Event: the group's handle); elapsed: the slowest one's span.
  Event event_create();
  void event_record(Event e);
  float event_elapsed_ms(Event start, Event end);
  void event_destroy(Event e);
  void synchronize();

  // The all-reduce bus bandwidth of rank 0's TP group (its DP group where tp is 1), measured with the
  // layout's own communicators by the ranks of it here; not measured (bytes_per_s 0) for one rank, a
  // simulated layout, or a process without that group (none of the layout's collectives need it).
  BusPeak measure_bus();

  int64_t world() const { return (int64_t)runners_.size(); }  // the ranks that run here
  int64_t dp() const { return groups_; }                        // the DP groups that run here
  const Layout& layout() const { return layout_; }              // the layout (simulated: the one estimated)
  bool simulated() const { return local_.simulated; }
  const LocalRanks& local() const { return local_; }
  // DP group d's blocks (every rank of the group holds the same blocks of its own pool).
  BlockAllocator& blocks(int64_t d) { return *blocks_[d]; }
  // The DP group that sequence i of n belongs to.
  int64_t dp_group_of(int64_t i, int64_t n) const { return i * groups_ / n; }
  ModelRunner& rank(int64_t r) { return *runners_[r]; }
  Backend& backend() { return *backends_[0]; }  // rank 0's: its name, graph support, kernel paths
  Backend& backend(int64_t r) { return *backends_[r]; }
  const ModelSpec& spec() const { return spec_; }
  const ModelRunnerOptions& options() const { return opts_; }  // kv_pool_tokens: per rank, the smallest
  const KvPool& kv() const { return runners_[0]->kv(); }
  int64_t mtp_layers() const { return runners_[0]->mtp_layers(); }
  std::string last_mla_form() const { return runners_[0]->last_mla_form(); }  // rank 0's (every rank runs the same form)
  int64_t max_blocks_per_seq() const { return runners_[0]->max_blocks_per_seq(); }

 private:
  const ModelSpec& spec_;
  Layout layout_;
  LocalRanks local_;
  int64_t groups_;
  ModelRunnerOptions opts_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<LayoutComms> comms_;
  std::vector<RankComms> rank_comms_;
  std::vector<std::unique_ptr<ModelRunner>> runners_;
  std::vector<std::unique_ptr<BlockAllocator>> blocks_;
  std::unique_ptr<RankThreads> threads_;
  std::vector<std::vector<SeqStep>> parts_;  // each DP group's sequences of the current step

  // seqs split over the local DP groups into parts_.
  void split(const std::vector<SeqStep>& seqs);
  // Local rank r's DP group among the local ones.
  int64_t group_of(int64_t r) const { return (local_.first() + r) / layout_.tp - local_.first() / layout_.tp; }
};

// The profiled pass's profilers, one per rank (each times its own ops); rank 0's are reported.
class RankProfilers {
 public:
  explicit RankProfilers(RankGroup& group);
  ~RankProfilers();
  Profiler* rank(int64_t r) { return profilers_[r].get(); }
  // Waits for every rank; returns rank 0's ops since the last collect (and keeps every rank's).
  std::vector<OpTime> collect();
  const std::vector<OpTime>& ops(int64_t r) const { return ops_[r]; }
  const std::vector<KernelRecord>& kernels() const { return profilers_[0]->kernels(); }

 private:
  RankGroup& group_;
  std::vector<std::unique_ptr<Profiler>> profilers_;
  std::vector<std::vector<OpTime>> ops_;
};

}  // namespace gpubench
