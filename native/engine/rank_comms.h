// The communicators of a layout's groups (core/communicator.h), owned together: the rank group
// hands each rank its RankComms and, when a rank fails mid-step, aborts them all so that no peer
// waits forever. rank_group.cc chooses the kind (make_comms there).
#pragma once
#include <memory>
#include <string>
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
// This process's rank of a layout whose every rank is a process of a launch (torchrun, mpirun, srun:
// one process per GPU), and the NCCL unique ids its groups join by, 128 bytes each, dp + tp of
// them in one string: the TP group of DP group d joins with id d, the DP group of TP rank t with
// id dp + t (rank 0 of the launch made them; ids nobody joins may be any bytes).
struct ProcessRank {
  int64_t rank = -1;  // -1: not a launch's process (this process runs every rank)
  int64_t world = 0;
  std::string ids;
  bool on() const { return rank >= 0; }
};
constexpr int64_t kNcclIdBytes = 128;
// One line (InvalidArgument) where the rank, the world or the ids do not fit the layout.
void check_process_rank(const Layout& layout, const ProcessRank& process);
// This process's one rank (shard.rank) over NCCL: its TP group where tp > 1, its DP group where
// the model has experts and dp > 1 (the groups its forward calls; core/layout.h,
// layout_has_collectives), each joined by its id, on be's GPU. Aborted groups stay aborted: their
// peers are in other processes, so they cannot be made anew (a later collective says to reopen).
std::unique_ptr<LayoutComms> process_layout_comms(const ModelSpec& spec, const ShardSpec& shard, const ProcessRank& process,
                                                  Backend& be);
// Rank 0 of a simulated layout alone: its groups have the layout's sizes, and their collectives
// move nothing (core/null_communicator.h).
std::unique_ptr<LayoutComms> null_layout_comms(const Layout& layout);

}  // namespace gpubench
