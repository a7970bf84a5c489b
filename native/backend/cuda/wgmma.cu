// The probe behind wgmma_available() (wgmma.cuh).
#include "backend/cuda/check.h"
#include "backend/cuda/wgmma.cuh"

namespace gpubench {

namespace {

// Writes 1 where the running build has the wgmma kernels' bodies (sm_90a), 0 elsewhere.
__global__ void wgmma_probe_kernel(int* out) {
#ifdef GPUBENCH_WGMMA
  *out = 1;
#else
  *out = 0;
#endif
}

}  // namespace

bool wgmma_available() {
  int* flag = nullptr;
  int host = 0;
  CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
  wgmma_probe_kernel<<<1, 1>>>(flag);
  const cudaError_t launched = cudaGetLastError();
  const cudaError_t copied = cudaMemcpy(&host, flag, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(flag);
  CUDA_CHECK(launched);
  CUDA_CHECK(copied);
  return host == 1;
}

}  // namespace gpubench
