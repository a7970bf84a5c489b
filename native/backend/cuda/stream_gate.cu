// hold_stream / release_stream: a one-thread kernel that waits on a flag in pinned host memory.
// The profiled pass holds the stream, enqueues a whole step's ops and events, and releases it,
// so the device runs the step back to back and each op's events enclose only its own kernels
// (otherwise an eager step's op times include the host's launch gaps, and the first op absorbs
// CUPTI's start-up). The kernel gives up after kMaxHoldNs, so a host that blocks while the
// stream is held (a full launch queue, a forgotten release) costs that long, never a hang.
#include <cuda_runtime.h>

#include "backend/cuda/check.h"
#include "backend/cuda/cuda_backend.h"

namespace gpubench {

namespace {

constexpr unsigned long long kMaxHoldNs = 200ull * 1000 * 1000;

__device__ __forceinline__ unsigned long long global_timer_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void stream_gate_kernel(const volatile int* released) {
  const unsigned long long t0 = global_timer_ns();
  while (*released == 0 && global_timer_ns() - t0 < kMaxHoldNs) __nanosleep(2000);
}

}  // namespace

void CudaBackend::hold_stream() {
  if (held_) return;
  if (!gate_flag_) {
    void* p = nullptr;
    CUDA_CHECK(cudaHostAlloc(&p, sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable));
    gate_flag_ = static_cast<int*>(p);
  }
  *static_cast<volatile int*>(gate_flag_) = 0;
  int* device_flag = nullptr;
  CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_flag), gate_flag_, 0));
  stream_gate_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream_)>>>(device_flag);
  check_launch();
  held_ = true;
}

void CudaBackend::release_stream() {
  if (!held_) return;
  *static_cast<volatile int*>(gate_flag_) = 1;
  held_ = false;
}

}  // namespace gpubench
