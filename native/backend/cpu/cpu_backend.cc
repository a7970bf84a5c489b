// Identity, memory, copies and timing of the CPU backend. Ops run synchronously on the calling
// thread (and the pool), so there is no stream: synchronize() has nothing to wait for and an event
// is just the time at which it was recorded.
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "base/rng.h"

namespace gpubench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::align_val_t kAlign{64};  // a cache line, and wide enough for any SIMD load

// Total and available host memory: /proc/meminfo where it exists (MemAvailable counts reclaimable
// cache, unlike sysconf's free pages), else sysconf, else unknown (0).
void host_memory(size_t* total, size_t* avail) {
  *total = *avail = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  unsigned long long kb;
  while (std::getline(meminfo, line)) {
    if (std::sscanf(line.c_str(), "MemTotal: %llu kB", &kb) == 1) *total = (size_t)kb * 1024;
    if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kb) == 1) *avail = (size_t)kb * 1024;
  }
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  if (*total == 0) *total = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
#endif
#if defined(_SC_AVPHYS_PAGES) && defined(_SC_PAGESIZE)
  if (*avail == 0) *avail = (size_t)sysconf(_SC_AVPHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
#endif
}

}  // namespace

CpuBackend::CpuBackend(int threads) : pool_(threads) {}

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  if (threads < 0) invalid("cpu backend", "threads ", threads, " is negative");
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return std::make_unique<CpuBackend>(threads);
}

DeviceInfo CpuBackend::device_info() const {
  DeviceInfo info;
  int n = pool_.threads();
  info.name = "CPU (" + std::to_string(n) + (n == 1 ? " thread)" : " threads)");
  info.threads = n;
  host_memory(&info.total_bytes, &info.free_bytes);
  return info;
}

void* CpuBackend::alloc(size_t bytes) {
  void* p = ::operator new(bytes, kAlign, std::nothrow);
  if (!p) {
    DeviceInfo info = device_info();
    fail(ErrorCode::OutOfMemory, "cpu: cannot allocate " + std::to_string(bytes) + " bytes (" +
                                     std::to_string(info.free_bytes) + " of " +
                                     std::to_string(info.total_bytes) + " bytes available)");
  }
  return p;
}

void CpuBackend::release(void* p) { ::operator delete(p, kAlign); }

void CpuBackend::copy_to_device(void* dst, const void* host_src, size_t bytes) {
  std::memcpy(dst, host_src, bytes);
}
void CpuBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  std::memcpy(host_dst, src, bytes);
}
void CpuBackend::copy_device(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBackend::upload_f32(Tensor dst, const float* host_src) {
  check_float("upload_f32", "dst", dst);
  if (dst.dtype == DType::F32) {
    std::memcpy(dst.data, host_src, dst.bytes());
    return;
  }
  uint16_t* d = static_cast<uint16_t*>(dst.data);
  for (int64_t i = 0; i < dst.numel(); ++i) d[i] = f32_to_bf16_bits(host_src[i]);
}

void CpuBackend::download_f32(float* host_dst, Tensor src) {
  check_float("download_f32", "src", src);
  if (src.dtype == DType::F32) {
    std::memcpy(host_dst, src.data, src.bytes());
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src.data);
  for (int64_t i = 0; i < src.numel(); ++i) host_dst[i] = bf16_bits_to_f32(s[i]);
}

Event CpuBackend::event_create() { return new Clock::time_point(); }
void CpuBackend::event_record(Event e) { *static_cast<Clock::time_point*>(e) = Clock::now(); }
void CpuBackend::event_destroy(Event e) { delete static_cast<Clock::time_point*>(e); }

float CpuBackend::event_elapsed_ms(Event start, Event end) {
  auto d = *static_cast<Clock::time_point*>(end) - *static_cast<Clock::time_point*>(start);
  return std::chrono::duration<float, std::milli>(d).count();
}

}  // namespace gpubench
