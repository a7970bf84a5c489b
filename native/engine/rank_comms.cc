#include "engine/rank_comms.h"

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/host_communicator.h"
#include "core/nccl_communicator.h"
#include "core/null_communicator.h"

namespace gpubench {

namespace {

// The groups of a layout whose ranks are all in this process: a TP group per DP group and a DP
// group per TP rank. Comms is HostComms or NcclComms: each has `ranks`, abort() and reset().
template <class Comms>
class GroupedLayoutComms : public LayoutComms {
 public:
  // make(ranks): the group of those ranks of the layout, in that order.
  GroupedLayoutComms(const Layout& l, const std::function<std::unique_ptr<Comms>(const std::vector<int64_t>&)>& make) {
    const auto ranks = [](int64_t first, int64_t stride, int64_t n) {
      std::vector<int64_t> r;
      for (int64_t i = 0; i < n; ++i) r.push_back(first + i * stride);
      return r;
    };
    for (int64_t d = 0; d < l.dp && l.tp > 1; ++d) tp_.push_back(make(ranks(d * l.tp, 1, l.tp)));
    for (int64_t t = 0; t < l.tp && l.dp > 1; ++t) dp_.push_back(make(ranks(t, l.tp, l.dp)));
  }
  RankComms of(const ShardSpec& s) override {
    RankComms c;
    if (!tp_.empty()) c.tp = tp_[s.dp_rank]->ranks[s.tp_rank].get();
    if (!dp_.empty()) c.dp = dp_[s.tp_rank]->ranks[s.dp_rank].get();
    return c;
  }
  void abort() override {
    for (auto* groups : {&tp_, &dp_})
      for (auto& g : *groups) g->abort();
  }
  void reset() override {
    for (auto* groups : {&tp_, &dp_})
      for (auto& g : *groups) g->reset();
  }

 private:
  std::vector<std::unique_ptr<Comms>> tp_, dp_;  // per DP group; per TP rank
};

class NullLayoutComms : public LayoutComms {
 public:
  explicit NullLayoutComms(const Layout& l) : tp_(0, (int)l.tp), dp_(0, (int)l.dp), layout_(l) {}
  RankComms of(const ShardSpec&) override {
    RankComms c;
    if (layout_.tp > 1) c.tp = &tp_;
    if (layout_.dp > 1) c.dp = &dp_;
    return c;
  }
  void abort() override {}
  void reset() override {}

 private:
  NullCommunicator tp_, dp_;
  Layout layout_;
};

// One rank of a layout whose other ranks are other processes: its groups joined by id.
class ProcessLayoutComms : public LayoutComms {
 public:
  ProcessLayoutComms(const ModelSpec& spec, const ShardSpec& s, const ProcessRank& p, Backend& be) {
    const Layout& l = s.layout;
    // Every process joins its TP group first, then its DP group: each ncclCommInitRank waits for its
    // group's other ranks, which are joining the same group at the same time.
    if (l.tp > 1) tp_ = nccl_join(id(p, s.dp_rank), (int)l.tp, (int)s.tp_rank, be);
    if (l.dp > 1 && spec.is_moe()) dp_ = nccl_join(id(p, l.dp + s.tp_rank), (int)l.dp, (int)s.dp_rank, be);
  }
  RankComms of(const ShardSpec&) override { return RankComms{tp_.get(), dp_.get()}; }
  void abort() override {
    for (auto* c : {tp_.get(), dp_.get()})
      if (c) c->abort();
  }
  void reset() override {}

 private:
  std::unique_ptr<NcclCommunicator> tp_, dp_;
  static std::string id(const ProcessRank& p, int64_t k) { return p.ids.substr((size_t)(k * kNcclIdBytes), kNcclIdBytes); }
};

}  // namespace

void check_process_rank(const Layout& l, const ProcessRank& p) {
  const std::string W = std::to_string(l.world());
  if (p.world != l.world()) {
    fail(ErrorCode::InvalidArgument, "parallel.process.world " + std::to_string(p.world) + " is not the layout's tp * dp = " + W +
                                         " (allowed: one process per rank)");
  }
  if (p.rank >= p.world) {
    fail(ErrorCode::InvalidArgument, "parallel.process.rank " + std::to_string(p.rank) + " is not a rank of the layout (allowed: 0 to " +
                                         std::to_string(l.world() - 1) + ")");
  }
  const int64_t want = (l.dp + l.tp) * kNcclIdBytes;
  if ((int64_t)p.ids.size() != want) {
    fail(ErrorCode::InvalidArgument, "parallel.process.ids of " + std::to_string(p.ids.size()) + " bytes (allowed: (dp + tp) * 128 = " +
                                         std::to_string(want) + ", an NCCL unique id per group: the TP group of DP group d, then "
                                         "the DP group of TP rank t)");
  }
}

std::unique_ptr<LayoutComms> process_layout_comms(const ModelSpec& spec, const ShardSpec& shard, const ProcessRank& process,
                                                  Backend& be) {
  return std::make_unique<ProcessLayoutComms>(spec, shard, process, be);
}

std::unique_ptr<LayoutComms> nccl_layout_comms(const Layout& layout, const std::vector<Backend*>& backends) {
  return std::make_unique<GroupedLayoutComms<NcclComms>>(layout, [&](const std::vector<int64_t>& ranks) {
    std::vector<Backend*> group;
    for (int64_t r : ranks) group.push_back(backends[r]);
    return std::make_unique<NcclComms>(group);
  });
}

std::unique_ptr<LayoutComms> host_layout_comms(const Layout& layout) {
  return std::make_unique<GroupedLayoutComms<HostComms>>(
      layout, [](const std::vector<int64_t>& ranks) { return std::make_unique<HostComms>((int)ranks.size()); });
}

std::unique_ptr<LayoutComms> null_layout_comms(const Layout& layout) { return std::make_unique<NullLayoutComms>(layout); }

}  // namespace gpubench
