// The communicator of a simulated layout (docs/design.md, "Estimates"): rank 0 runs alone with the
// shard the full layout gives it, and its collectives move nothing. They are still called, so each
// stays an op of the profiled pass and the trace (at ~0 ms) where the real one would run; the
// result's tensors are whatever this rank alone holds, so a simulated run's tokens mean nothing.
#pragma once
#include "core/communicator.h"

namespace gpubench {

class NullCommunicator : public Communicator {
 public:
  NullCommunicator(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce(Tensor) override {}
  void all_gather(Tensor, Tensor) override {}
  void reduce_scatter(Tensor, Tensor) override {}

 private:
  int rank_, size_;
};

}  // namespace gpubench
