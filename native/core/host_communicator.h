// The in-process communicator for the CPU backend: W ranks as W threads of one process, sharing
// host memory. Each collective is a rendezvous: every rank posts its tensors and waits at a
// barrier, then each rank computes its share straight from the others' memory. Sums run over the
// ranks in rank order (0, 1, ..., W - 1) whichever thread arrives first, so results never depend
// on thread timing, and every rank of an all_reduce ends with the same bits.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/communicator.h"

namespace gpubench {

// The state the W ranks of one group share.
class HostCommGroup {
 public:
  explicit HostCommGroup(int size);
  int size() const { return size_; }
  // Wakes every rank waiting in a collective with CollectiveAbandoned: a rank that failed mid-step
  // calls it so that its peers do not wait forever. reset() readies the group again once every
  // rank has left its collective.
  void abort();
  void reset();

 private:
  friend class HostCommunicator;
  // Blocks until all `size` ranks arrive (or the group is aborted: throws).
  void barrier();
  int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  bool aborted_ = false;
  std::vector<Tensor> in_;  // each rank's posted input
};

class HostCommunicator : public Communicator {
 public:
  HostCommunicator(HostCommGroup& group, int rank) : g_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_.size(); }
  void all_reduce(Tensor t) override;
  void all_gather(Tensor out, Tensor in) override;
  void reduce_scatter(Tensor out, Tensor in) override;

 private:
  HostCommGroup& g_;
  int rank_;
  // Posts this rank's input and waits for every rank's.
  void post(Tensor in);
};

// W ranks' communicators over one new group.
struct HostComms {
  std::unique_ptr<HostCommGroup> group;
  std::vector<std::unique_ptr<HostCommunicator>> ranks;
  explicit HostComms(int size);
  void abort() { group->abort(); }
  void reset() { group->reset(); }
};

}  // namespace gpubench
