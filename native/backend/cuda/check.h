// Status checks for the CUDA backend. Every CUDA runtime call goes through CUDA_CHECK, every
// cuBLASLt call through CUBLAS_CHECK, and every kernel launch is followed by check_launch(); a
// failure becomes gpubench::Error(ErrorCode::Device) naming the call and where it was made.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "base/error.h"

namespace gpubench {
namespace cuda_detail {

[[noreturn]] inline void throw_device_error(const char* call, const char* what, const char* file,
                                            int line) {
  throw Error(ErrorCode::Device, std::string(call) + " failed: " + what + " at " + file + ":" +
                                     std::to_string(line));
}

inline void check_last_launch(const char* file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw_device_error("kernel launch", cudaGetErrorString(e), file, line);
}

}  // namespace cuda_detail
}  // namespace gpubench

#define CUDA_CHECK(call)                                                                      \
  do {                                                                                        \
    cudaError_t gpubench_err_ = (call);                                                       \
    if (gpubench_err_ != cudaSuccess)                                                         \
      ::gpubench::cuda_detail::throw_device_error(#call, cudaGetErrorString(gpubench_err_),   \
                                                  __FILE__, __LINE__);                        \
  } while (0)

// Expands only where cublasLt.h is included (matmul.cu), so the other files need no cuBLAS.
#define CUBLAS_CHECK(call)                                                                    \
  do {                                                                                        \
    cublasStatus_t gpubench_st_ = (call);                                                     \
    if (gpubench_st_ != CUBLAS_STATUS_SUCCESS)                                                \
      ::gpubench::cuda_detail::throw_device_error(#call, cublasLtGetStatusString(gpubench_st_), \
                                                  __FILE__, __LINE__);                        \
  } while (0)

// After every <<<...>>>: a bad launch configuration is reported here, not at the next sync.
#define check_launch() ::gpubench::cuda_detail::check_last_launch(__FILE__, __LINE__)
