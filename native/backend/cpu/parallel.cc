#include "backend/cpu/parallel.h"

#include <algorithm>

namespace gpubench {

namespace {
// Set on pool threads and on a caller while it runs a job, so nested parallel_for runs inline.
thread_local bool t_in_job = false;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  wake_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run(int64_t n, int64_t grain, Call call, void* fn) {
  grain = std::max<int64_t>(grain, 1);
  // A few chunks per thread: enough to balance uneven items, few enough to keep overhead small.
  int64_t num_chunks = std::min<int64_t>((n + grain - 1) / grain, 4 * (int64_t)threads());
  if (num_chunks <= 1 || workers_.empty() || t_in_job) {
    call(fn, 0, n);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mu_);
  {
    std::lock_guard<std::mutex> lk(mu_);
    call_ = call;
    fn_ = fn;
    n_ = n;
    chunk_ = (n + num_chunks - 1) / num_chunks;
    num_chunks_ = (n + chunk_ - 1) / chunk_;
    next_chunk_.store(0, std::memory_order_relaxed);
    pending_workers_ = (int)workers_.size();
    error_ = nullptr;
    ++generation_;
  }
  wake_cv_.notify_all();
  t_in_job = true;
  work();
  t_in_job = false;
  std::exception_ptr error;
  {
    // fn lives in the caller's frame: wait until no worker can still touch it.
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_workers_ == 0; });
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::work() {
  for (;;) {
    int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= num_chunks_) return;
    int64_t begin = c * chunk_;
    try {
      call_(fn_, begin, std::min(begin + chunk_, n_));
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  t_in_job = true;
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    wake_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    lk.unlock();
    work();
    lk.lock();
    if (--pending_workers_ == 0) done_cv_.notify_one();
  }
}

}  // namespace gpubench
