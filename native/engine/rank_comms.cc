#include "engine/rank_comms.h"

#include <vector>

#include "core/host_communicator.h"
#include "core/nccl_communicator.h"
#include "core/null_communicator.h"

namespace gpubench {

namespace {

class HostLayoutComms : public LayoutComms {
 public:
  explicit HostLayoutComms(const Layout& l) {
    for (int64_t d = 0; d < l.dp && l.tp > 1; ++d) tp_.push_back(std::make_unique<HostComms>((int)l.tp));
    for (int64_t t = 0; t < l.tp && l.dp > 1; ++t) dp_.push_back(std::make_unique<HostComms>((int)l.dp));
  }
  RankComms of(const ShardSpec& s) override {
    RankComms c;
    if (!tp_.empty()) c.tp = tp_[s.dp_rank]->ranks[s.tp_rank].get();
    if (!dp_.empty()) c.dp = dp_[s.tp_rank]->ranks[s.dp_rank].get();
    return c;
  }
  void abort() override {
    for (auto* groups : {&tp_, &dp_})
      for (auto& g : *groups) g->group->abort();
  }
  void reset() override {
    for (auto* groups : {&tp_, &dp_})
      for (auto& g : *groups) g->group->reset();
  }

 private:
  std::vector<std::unique_ptr<HostComms>> tp_, dp_;  // per DP group; per TP rank
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

// One NCCL communicator per rank and group, rank r of the layout on backends[r]'s device.
class NcclLayoutComms : public LayoutComms {
 public:
  NcclLayoutComms(const Layout& l, const std::vector<Backend*>& backends) {
    for (int64_t d = 0; d < l.dp && l.tp > 1; ++d) {
      std::vector<Backend*> group;
      for (int64_t t = 0; t < l.tp; ++t) group.push_back(backends[d * l.tp + t]);
      tp_.push_back(std::make_unique<NcclComms>(group));
    }
    for (int64_t t = 0; t < l.tp && l.dp > 1; ++t) {
      std::vector<Backend*> group;
      for (int64_t d = 0; d < l.dp; ++d) group.push_back(backends[d * l.tp + t]);
      dp_.push_back(std::make_unique<NcclComms>(group));
    }
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
    aborted_ = true;
  }
  // An aborted NCCL communicator cannot be used again: the groups are made anew.
  void reset() override {
    if (!aborted_) return;
    for (auto* groups : {&tp_, &dp_})
      for (auto& g : *groups) g->rebuild();
    aborted_ = false;
  }

 private:
  std::vector<std::unique_ptr<NcclComms>> tp_, dp_;  // per DP group; per TP rank
  bool aborted_ = false;
};

}  // namespace

std::unique_ptr<LayoutComms> nccl_layout_comms(const Layout& layout, const std::vector<Backend*>& backends) {
  return std::make_unique<NcclLayoutComms>(layout, backends);
}

std::unique_ptr<LayoutComms> host_layout_comms(const Layout& layout) { return std::make_unique<HostLayoutComms>(layout); }

std::unique_ptr<LayoutComms> null_layout_comms(const Layout& layout) { return std::make_unique<NullLayoutComms>(layout); }

}  // namespace gpubench
