// A small persistent thread pool for the CPU backend's ops. parallel_for(n, fn) cuts [0, n) into
// chunks that the pool's workers and the calling thread take from a shared counter, so uneven work
// (attention rows of different context lengths) still balances. Workers sleep on a condition
// variable between calls.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace gpubench {

// Items per chunk so that one chunk is worth about `kChunkCost` units of work (roughly flops):
// below that, waking a thread costs more than it saves.
inline int64_t grain_for(int64_t cost_per_item) {
  constexpr int64_t kChunkCost = 1 << 15;
  return cost_per_item >= kChunkCost ? 1 : kChunkCost / (cost_per_item < 1 ? 1 : cost_per_item);
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1, the calling thread included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return (int)workers_.size() + 1; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n), each at least `grain` items long
  // (except the last), and returns when all are done. The first exception thrown is rethrown here.
  // Calls from inside fn run inline rather than deadlocking on the busy pool.
  template <class F>
  void parallel_for(int64_t n, F&& fn, int64_t grain = 1) {
    if (n <= 0) return;
    auto call = [](void* f, int64_t b, int64_t e) {
      (*static_cast<std::remove_reference_t<F>*>(f))(b, e);
    };
    run(n, grain, call, (void*)&fn);
  }

 private:
  using Call = void (*)(void*, int64_t, int64_t);
  void run(int64_t n, int64_t grain, Call call, void* fn);
  void work();  // takes chunks of the current job until none are left
  void worker_loop();

  std::vector<std::thread> workers_;
  std::mutex submit_mu_;  // one job at a time when several threads share the backend

  std::mutex mu_;
  std::condition_variable wake_cv_, done_cv_;
  uint64_t generation_ = 0;  // bumped per job; a worker runs each generation once
  int pending_workers_ = 0;  // workers yet to finish the current job
  bool stop_ = false;
  std::exception_ptr error_;

  // The current job; written under mu_ before the generation bump.
  Call call_ = nullptr;
  void* fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 0, num_chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
};

}  // namespace gpubench
