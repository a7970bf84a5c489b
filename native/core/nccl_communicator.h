// The NCCL communicator for CUDA ranks: one ncclComm per rank, each collective enqueued on the
// rank backend's stream (so a decode step's collectives are captured in its CUDA graph), called
// from the rank's own thread as nccl-tests' thread mode does. libnccl.so.2 is loaded at run time:
// the addon builds and runs without NCCL, and a layout that needs it says what to install.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/communicator.h"

namespace gpubench {

class NcclLibrary;

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const NcclLibrary& nccl, void* comm, Backend& be, int rank, int size)
      : nccl_(nccl), comm_(comm), be_(be), rank_(rank), size_(size) {}
  ~NcclCommunicator() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce(Tensor t) override;
  void all_gather(Tensor out, Tensor in) override;
  void reduce_scatter(Tensor out, Tensor in) override;
  // Stops the communicator's pending and future work (a peer failed): ncclCommAbort.
  void abort();

 private:
  friend struct NcclComms;
  const NcclLibrary& nccl_;
  void* comm_;  // ncclComm_t
  Backend& be_;
  int rank_, size_;
  void live(const char* op) const;
};

// The ranks of one group in this process, rank r on backends[r]'s device (one device per rank:
// NCCL refuses two ranks on one GPU).
struct NcclComms {
  std::vector<std::unique_ptr<NcclCommunicator>> ranks;
  explicit NcclComms(const std::vector<Backend*>& backends);
  void abort();
  // After abort(): new NCCL communicators under the same NcclCommunicator objects (the ranks keep
  // their pointers), from a new unique id; nothing otherwise. An aborted communicator cannot be
  // used again.
  void reset();

 private:
  std::vector<Backend*> backends_;
  bool aborted_ = false;
  // A new communicator for every rank, each on its device, from one new unique id.
  std::vector<void*> init_all();
};

// n NCCL unique ids, 128 bytes each, one per group to be made: what rank 0 of a multi-process
// launch hands the other processes, each of which then joins its groups by id.
std::string nccl_unique_ids(int n);
// This process's rank of a group whose other ranks are in other processes (every rank calls it
// with the same id and size), on be's device.
std::unique_ptr<NcclCommunicator> nccl_join(const std::string& id, int size, int rank, Backend& be);

// "NCCL 2.28.3", or why NCCL cannot be used here (libnccl.so.2 not found, a function missing).
std::string nccl_status();

}  // namespace gpubench
