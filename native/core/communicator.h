// The collectives the sharded forward pass calls (docs/design.md, "Parallel layouts"). One
// Communicator per rank and group; every rank of a group calls the same collectives in the same
// order with tensors of the same shape. Like backend ops they are asynchronous on the rank's
// stream in spirit: an NCCL implementation (libnccl dlopen'ed, one communicator per rank thread)
// enqueues them on the rank backend's stream, so they are captured in CUDA graphs with the step;
// the host implementation (host_communicator.h) returns when the result is in place.
// Tensors are row-major [rows, cols] in the backend's memory; the sum is in the tensor's dtype.
#pragma once
#include <string>

#include "backend/backend.h"
#include "base/error.h"

namespace gpubench {

// What a rank waiting in a collective throws when a peer failed and the group was aborted: the
// peer's own error is the one to report.
struct CollectiveAbandoned : Error {
  CollectiveAbandoned() : Error(ErrorCode::Internal, "collective abandoned: another rank failed") {}
};

// The checks every implementation makes: float tensors only, and for all_gather (whole = out,
// part = in) and reduce_scatter (whole = in, part = out) a whole of `size` parts in the same dtype;
// an all_reduce is its own whole and part (size 1).
inline void check_collective(const char* op, const Tensor& whole, const Tensor& part, int size) {
  if (part.dtype == DType::I32) fail(ErrorCode::Internal, std::string(op) + ": int32 tensors are not reduced (allowed: f32, bf16)");
  if (whole.numel() != part.numel() * size || whole.dtype != part.dtype) {
    fail(ErrorCode::Internal, std::string(op) + ": " + std::to_string(whole.numel()) + " elements for " + std::to_string(size) +
                                  " parts of " + std::to_string(part.numel()) + " (allowed: the same dtype, size times the part)");
  }
}

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // t = the sum over the ranks of their t, in place; every rank ends with the same values.
  virtual void all_reduce(Tensor t) = 0;
  // out [size * in.rows, cols]: rank k's `in` in rows [k * in.rows, (k + 1) * in.rows).
  virtual void all_gather(Tensor out, Tensor in) = 0;
  // out [in.rows / size, cols] = the sum over the ranks of their in's block of rows number rank().
  virtual void reduce_scatter(Tensor out, Tensor in) = 0;
};

// The groups a rank's forward pass talks to; null where the group is the rank alone, so a layout
// of one rank calls no collective. tp: the ranks of its DP group (attention, dense MLP, and the
// MoE when dp is 1); dp: the ranks with its TP rank in every DP group (DP attention's token
// gather before an MoE block and the scatter after it).
struct RankComms {
  Communicator* tp = nullptr;
  Communicator* dp = nullptr;
};

}  // namespace gpubench
