// The probe behind dependent_launch_available() (dependent_launch.cuh).
#include <cstdlib>
#include <string>

#include "backend/cuda/check.h"
#include "backend/cuda/dependent_launch.cuh"

namespace gpubench {

namespace {

// Writes 1 where the code that runs has griddepcontrol.wait (sm_90 or later), 0 elsewhere.
__global__ void dependent_launch_probe_kernel(int* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  *out = 1;
#else
  *out = 0;
#endif
}

}  // namespace

bool dependent_launch_available() {
  if (const char* env = std::getenv("GPUBENCH_PDL"); env && std::string(env) == "0") return false;
  int* flag = nullptr;
  int host = 0;
  CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
  dependent_launch_probe_kernel<<<1, 1>>>(flag);
  const cudaError_t launched = cudaGetLastError();
  const cudaError_t copied = cudaMemcpy(&host, flag, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(flag);
  CUDA_CHECK(launched);
  CUDA_CHECK(copied);
  return host == 1;
}

}  // namespace gpubench
