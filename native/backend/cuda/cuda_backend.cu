// CUDA backend: device selection, memory, copies, events and CUDA graphs. The ops live in the
// .cu file named after each op.
#include "backend/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/wgmma.cuh"
#include "base/rng.h"

namespace gpubench {

namespace {

cudaStream_t as_stream(CUstream_st* s) { return s; }

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

void check_float_tensor(const Tensor& t, const char* what) {
  if (t.dtype == DType::I32) fail(ErrorCode::InvalidArgument, std::string(what) + ": i32 tensor");
}

}  // namespace

CudaBackend::CudaBackend(int device_index) : device_(device_index) {
  const int count = cuda_device_count();
  if (device_index < 0 || device_index >= count)
    fail(ErrorCode::InvalidArgument, "cuda device " + std::to_string(device_index) +
                                         " does not exist (" + std::to_string(count) + " found)");
  try {
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, device_));
    wgmma_ = wgmma_available();
    pdl_ = dependent_launch_available();
    if (const char* gemm = std::getenv("GPUBENCH_GEMM")) {
      const std::string g = gemm;
      if (g == "cublaslt") gemm_kernel_ = GemmKernel::CublasLt;
      else if (g == "small_m") gemm_kernel_ = GemmKernel::SmallM;
      else if (g != "auto")
        fail(ErrorCode::InvalidArgument, "GPUBENCH_GEMM=" + g + " is not allowed (allowed: auto, cublaslt, small_m)");
    }
    cudaStream_t s = nullptr;
    // Non-blocking: the legacy default stream, which other libraries may use, never
    // serializes with ours.
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream_ = s;
    matmul_init();
    attn_scratch_ = alloc(kAttnScratchBytes);
  } catch (...) {
    destroy();
    throw;
  }
}

CudaBackend::~CudaBackend() { destroy(); }

void CudaBackend::bind_thread() { CUDA_CHECK(cudaSetDevice(device_)); }

// Errors are ignored here: a destructor must not throw, and a failed free leaves nothing to do.
void CudaBackend::destroy() {
  cudaSetDevice(device_);
  release_stream();
  if (stream_) cudaStreamSynchronize(as_stream(stream_));
  if (gate_flag_) cudaFreeHost(gate_flag_);
  gate_flag_ = nullptr;
  matmul_destroy();
  if (attn_scratch_) cudaFree(attn_scratch_);
  attn_scratch_ = nullptr;
  if (stream_) cudaStreamDestroy(as_stream(stream_));
  stream_ = nullptr;
  cudaGetLastError();  // leave no sticky error behind for whoever uses the device next
}

std::string CudaBackend::name() const { return "cuda:" + std::to_string(device_); }

DeviceInfo CudaBackend::device_info() const { return cuda_device_info(device_); }

void* CudaBackend::alloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaSuccess) return p;
  cudaGetLastError();  // clear the error so the next call does not see it
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  cudaGetLastError();
  if (e != cudaErrorMemoryAllocation)
    cuda_detail::throw_device_error("cudaMalloc", cudaGetErrorString(e), __FILE__, __LINE__);
  throw Error(ErrorCode::OutOfMemory, "cudaMalloc of " + std::to_string(bytes) + " bytes (" +
                                          mib(bytes) + ") failed: " + std::to_string(free_b) +
                                          " bytes free of " + std::to_string(total_b));
}

void CudaBackend::release(void* p) {
  if (p) CUDA_CHECK(cudaFree(p));
}

void CudaBackend::copy_to_device(void* dst, const void* host_src, size_t bytes) {
  // A pageable source is staged before cudaMemcpyAsync returns, so the caller may reuse it.
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, as_stream(stream_)));
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, as_stream(stream_)));
  synchronize();
}

void CudaBackend::copy_device(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, as_stream(stream_)));
}

void CudaBackend::upload_f32(Tensor dst, const float* host_src) {
  check_float_tensor(dst, "upload_f32");
  if (dst.dtype == DType::F32) {
    copy_to_device(dst.data, host_src, dst.bytes());
    return;
  }
  std::vector<uint16_t> staged((size_t)dst.numel());
  for (size_t i = 0; i < staged.size(); ++i) staged[i] = f32_to_bf16_bits(host_src[i]);
  copy_to_device(dst.data, staged.data(), dst.bytes());
  // The staging buffer dies with this call: wait rather than rely on the driver's staging.
  synchronize();
}

void CudaBackend::download_f32(float* host_dst, Tensor src) {
  check_float_tensor(src, "download_f32");
  if (src.dtype == DType::F32) {
    copy_to_host(host_dst, src.data, src.bytes());
    return;
  }
  std::vector<uint16_t> staged((size_t)src.numel());
  copy_to_host(staged.data(), src.data, src.bytes());
  for (size_t i = 0; i < staged.size(); ++i) host_dst[i] = bf16_bits_to_f32(staged[i]);
}

void CudaBackend::synchronize() {
  release_stream();  // waiting on a held stream would wait for the hold's timeout
  CUDA_CHECK(cudaStreamSynchronize(as_stream(stream_)));
}

Event CudaBackend::event_create() {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreate(&e));
  return e;
}

void CudaBackend::event_record(Event e) {
  CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(e), as_stream(stream_)));
}

float CudaBackend::event_elapsed_ms(Event start, Event end) {
  float ms = 0.0f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start),
                                  static_cast<cudaEvent_t>(end)));
  return ms;
}

void CudaBackend::event_destroy(Event e) {
  if (e) CUDA_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(e)));
}

// Thread-local mode: only this thread's unsafe calls (e.g. cudaMalloc) invalidate the capture,
// so other threads of the process may keep using CUDA meanwhile.
void CudaBackend::capture_begin() {
  CUDA_CHECK(cudaStreamBeginCapture(as_stream(stream_), cudaStreamCaptureModeThreadLocal));
}

Graph CudaBackend::capture_end() {
  cudaGraph_t graph = nullptr;
  CUDA_CHECK(cudaStreamEndCapture(as_stream(stream_), &graph));
  cudaGraphExec_t exec = nullptr;
  cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  CUDA_CHECK(e);
  return exec;
}

void CudaBackend::graph_replay(Graph g) {
  CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(g), as_stream(stream_)));
}

void CudaBackend::graph_destroy(Graph g) {
  if (g) CUDA_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(g)));
}

std::unique_ptr<Backend> make_cuda_backend(int device_index) {
  return std::make_unique<CudaBackend>(device_index);
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

DeviceInfo cuda_device_info(int index) {
  cudaDeviceProp p{};
  CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  DeviceInfo info;
  info.name = p.name;
  info.cc_major = p.major;
  info.cc_minor = p.minor;
  CUDA_CHECK(cudaDriverGetVersion(&info.driver_version));
  char bus_id[32] = {};
  CUDA_CHECK(cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, index));
  info.pci_bus_id = bus_id;
  CUDA_CHECK(cudaRuntimeGetVersion(&info.runtime_version));
  int khz = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, index));
  info.sm_clock_mhz = khz / 1000;
  CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, index));
  info.mem_clock_mhz = khz / 1000;
  // Free memory is per device: ask with that device current, then restore the caller's.
  int previous = 0;
  CUDA_CHECK(cudaGetDevice(&previous));
  CUDA_CHECK(cudaSetDevice(index));
  cudaError_t e = cudaMemGetInfo(&info.free_bytes, &info.total_bytes);
  CUDA_CHECK(cudaSetDevice(previous));
  CUDA_CHECK(e);
  return info;
}

}  // namespace gpubench
