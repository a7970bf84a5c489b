// Programmatic dependent launch (PDL, compute capability 9.0 and later): a kernel launched this
// way may be scheduled while the kernel before it in the stream still runs, once every block of
// that kernel has exited (or has executed griddepcontrol.launch_dependents, which no kernel here
// does yet: releasing the next kernel earlier is the lever still to measure). Its launch, block
// scheduling and any prologue that needs nothing from that kernel then overlap that kernel's
// tail: a decode step runs ~300 kernels of a few to tens of microseconds each. In exchange it
// must call start_dependent_kernel() before it reads anything the previous kernel writes or
// writes anything it reads: every kernel launched here calls it first, except matmul_small_m's,
// which issues its first weight loads (constant data) before it. CUDA graphs keep the attribute
// as a programmatic edge.
#pragma once
#include <cuda_runtime.h>

#include "backend/cuda/check.h"

namespace gpubench {

// Waits until the previous kernel has finished and its writes are visible. A no-op without PDL.
__device__ __forceinline__ void start_dependent_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Whether the running build's kernels call griddepcontrol.wait (code for sm_90 or later runs on
// this device: an older binary, or PTX compiled at load for an older target, does not, and must
// then not be launched early), asked by a probe kernel (device_code_probe.cu). GPUBENCH_PDL=0
// turns the launches off, to measure what they save.
bool dependent_launch_available();

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent launch when `pdl`.
template <typename... Params, typename... Args>
void launch_kernel(bool pdl, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   Args... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...));
}

}  // namespace gpubench
