// What the device code that runs on this GPU can do, asked by running one-thread probe kernels:
// which binary of the build (or which PTX, compiled at load) the driver picked for the GPU decides
// what every kernel contains, so the answer comes from a kernel of the same build.
#include <cstdlib>
#include <string>

#include "backend/cuda/check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/wgmma.cuh"

namespace gpubench {

namespace {

// Writes 1 where the running code has the wgmma kernels' bodies (sm_90a), 0 elsewhere.
__global__ void wgmma_probe_kernel(int* out) {
#ifdef GPUBENCH_WGMMA
  *out = 1;
#else
  *out = 0;
#endif
}

// Writes 1 where the running code has griddepcontrol.wait (sm_90 or later), 0 elsewhere.
__global__ void dependent_launch_probe_kernel(int* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  *out = 1;
#else
  *out = 0;
#endif
}

// Runs kernel<<<1, 1>>> on the current device and returns whether it wrote 1.
bool probe(void (*kernel)(int*)) {
  int* flag = nullptr;
  int host = 0;
  CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
  kernel<<<1, 1>>>(flag);
  const cudaError_t launched = cudaGetLastError();
  const cudaError_t copied = cudaMemcpy(&host, flag, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(flag);
  CUDA_CHECK(launched);
  CUDA_CHECK(copied);
  return host == 1;
}

}  // namespace

bool wgmma_available() { return probe(wgmma_probe_kernel); }

bool dependent_launch_available() {
  if (const char* env = std::getenv("GPUBENCH_PDL"); env && std::string(env) == "0") return false;
  return probe(dependent_launch_probe_kernel);
}

}  // namespace gpubench
