// Kernel tracing for the profiled pass through CUPTI's activity API: every kernel the device ran
// between kernel_trace_begin and kernel_trace_end, with its real name (cuBLASLt's included) and
// device timestamps. CUPTI delivers records in buffers, asynchronously and process-wide, so the
// records land in one global list; the profiled pass of one engine at a time uses it.
#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backend/cuda/check.h"
#include "backend/cuda/cuda_backend.h"

#ifdef GPUBENCH_WITH_CUPTI
#include <cupti.h>
#endif

namespace gpubench {

#ifdef GPUBENCH_WITH_CUPTI
namespace {

struct RawKernel {
  std::string name;
  uint64_t start_ns, end_ns;
};

std::mutex g_mu;
std::vector<RawKernel> g_kernels;
bool g_registered = false, g_available = true;

constexpr size_t kBufferBytes = size_t(4) << 20;

// Our kernels arrive mangled (_ZN8gpubench...); cuBLASLt's nvjet kernels are plain names.
std::string demangle(const char* name) {
  int status = 0;
  char* plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && plain ? plain : name;
  std::free(plain);
  return out;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
      if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      // hold_stream's wait is not part of the step
      if (k->name && std::strstr(k->name, "stream_gate_kernel")) continue;
      g_kernels.push_back(RawKernel{k->name ? demangle(k->name) : "?", k->start, k->end});
    }
  }
  std::free(buffer);
}

}  // namespace

void CudaBackend::kernel_trace_begin() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_kernels.clear();
  if (!g_registered) {
    g_registered = true;
    // Tracing is a nicety of the profiled pass: without CUPTI the trace keeps its op events.
    g_available = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) == CUPTI_SUCCESS;
  }
  if (g_available) g_available = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) == CUPTI_SUCCESS;
}

std::vector<KernelRecord> CudaBackend::kernel_trace_end() {
  if (!g_available) return {};
  synchronize();
  cuptiActivityFlushAll(1);  // delivers every pending buffer through buffer_completed
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  std::vector<RawKernel> raw;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    raw.swap(g_kernels);
  }
  std::sort(raw.begin(), raw.end(), [](const RawKernel& a, const RawKernel& b) { return a.start_ns < b.start_ns; });
  std::vector<KernelRecord> out;
  out.reserve(raw.size());
  for (const auto& k : raw) {
    out.push_back(KernelRecord{k.name, (k.start_ns - raw[0].start_ns) / 1e6, (k.end_ns - k.start_ns) / 1e6});
  }
  return out;
}
#else
void CudaBackend::kernel_trace_begin() {}
std::vector<KernelRecord> CudaBackend::kernel_trace_end() { return {}; }
#endif

}  // namespace gpubench
