#include "engine/scheduler.h"

#include <string>

#include "base/error.h"

namespace gpubench {

void BatchScheduler::submit(Request r) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) first_submit_ = Clock::now();
    queue_.push_back(std::move(r));
  }
  cv_.notify_all();
}

Admission BatchScheduler::wait_for_batch(size_t batch_size, double timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto deadline = Clock::now() + std::chrono::microseconds((int64_t)(timeout_ms * 1000));
  bool ready = cv_.wait_until(lock, deadline, [&] { return cancelled_ || queue_.size() >= batch_size; });
  if (cancelled_) fail(ErrorCode::Aborted, "aborted while waiting for a full batch");
  if (!ready) {
    fail(ErrorCode::Timeout, "batch did not fill: " + std::to_string(queue_.size()) + " of " +
                                 std::to_string(batch_size) + " requests arrived within " +
                                 std::to_string((int64_t)timeout_ms) + " ms");
  }
  Admission a;
  a.waiting_ms = std::chrono::duration<double, std::milli>(Clock::now() - first_submit_).count();
  for (size_t i = 0; i < batch_size; ++i) {
    a.batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  // Requests beyond this batch start the next batch's wait now.
  if (!queue_.empty()) first_submit_ = Clock::now();
  return a;
}

void BatchScheduler::cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

void BatchScheduler::reset_cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = false;
}

size_t BatchScheduler::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void BatchScheduler::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.clear();
}

}  // namespace gpubench
