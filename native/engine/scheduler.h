// BatchScheduler: requests arrive from JavaScript one at a time (any thread may submit); the
// engine thread waits until a full batch of the configured size is queued, then admits all of
// them together, as a serving engine does when a benchmark holds the batch back.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace gpubench {

struct Request {
  int64_t id = 0;
  std::vector<int32_t> input_ids;
};

struct Admission {
  std::vector<Request> batch;
  double waiting_ms = 0;  // first submission of the batch -> admission
};

class BatchScheduler {
 public:
  void submit(Request r);
  // Blocks until batch_size requests are queued, then removes and returns them. Throws
  // Error(Timeout) when the batch is not full within timeout_ms of the wait's start, and
  // Error(Aborted) once cancel() is called.
  Admission wait_for_batch(size_t batch_size, double timeout_ms);
  void cancel();
  void reset_cancel();
  size_t queued() const;
  // Drops queued requests (after a failed point, so they never leak into the next one).
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  Clock::time_point first_submit_;
  bool cancelled_ = false;
};

}  // namespace gpubench
