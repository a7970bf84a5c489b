// The communicators of a layout's groups (core/communicator.h), owned together: the rank group
// hands each rank its RankComms and, when a rank fails mid-step, aborts them all so that no peer
// waits forever. rank_group.cc chooses the kind (make_comms there).
#pragma once
#include <memory>
#include <vector>

#include "core/communicator.h"
#include "core/layout.h"

namespace gpubench {

class LayoutComms {
 public:
  virtual ~LayoutComms() = default;
  // Rank shard.rank's groups: its TP group (of its DP group) and its DP group (its TP rank in every
  // DP group); null where a group is the rank alone.
  virtual RankComms of(const ShardSpec& shard) = 0;
  // Releases every rank waiting in a collective; reset() readies the groups once all have left.
  virtual void abort() = 0;
  virtual void reset() = 0;
};

// W ranks as threads of this process over shared memory (core/host_communicator.h).
std::unique_ptr<LayoutComms> host_layout_comms(const Layout& layout);
// W ranks as threads of this process, rank r on backends[r]'s GPU, over NCCL
// (core/nccl_communicator.h; a one-line error where libnccl.so.2 does not load).
std::unique_ptr<LayoutComms> nccl_layout_comms(const Layout& layout, const std::vector<Backend*>& backends);
// Rank 0 of a simulated layout alone: its groups have the layout's sizes, and their collectives
// move nothing (core/null_communicator.h).
std::unique_ptr<LayoutComms> null_layout_comms(const Layout& layout);

}  // namespace gpubench
