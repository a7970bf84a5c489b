// embedding: out[r] = table[ids[r]]. Reference: backend/cpu/embedding.cc.
#include <cuda_runtime.h>

#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

// One block per output row; the row is copied in units of Unit (uint4 = 16 bytes when the row
// size and both base addresses allow it, else one element), so a 4096-wide bf16 row is 512
// coalesced 16-byte loads.
template <typename Unit>
__global__ void gather_rows_kernel(Unit* out, const Unit* table, const int32_t* ids,
                                   int64_t units_per_row) {
  const int64_t r = blockIdx.x;
  const Unit* src = table + (int64_t)ids[r] * units_per_row;
  Unit* dst = out + r * units_per_row;
  for (int64_t i = threadIdx.x; i < units_per_row; i += blockDim.x) dst[i] = src[i];
}

template <typename Unit>
void launch_gather(Tensor out, Tensor table, const int32_t* ids, cudaStream_t s) {
  const int64_t units = (int64_t)(table.cols * dtype_size(table.dtype) / sizeof(Unit));
  const int threads = units >= 256 ? 256 : 64;
  gather_rows_kernel<Unit><<<(unsigned)out.rows, threads, 0, s>>>(
      static_cast<Unit*>(out.data), static_cast<const Unit*>(table.data), ids, units);
  check_launch();
}

}  // namespace

void CudaBackend::embedding(Tensor out, Tensor table, const int32_t* ids) {
  if (out.dtype != table.dtype) fail(ErrorCode::InvalidArgument, "embedding: out and table differ in dtype");
  check_embedding(out, table);
  if (out.rows == 0) return;
  const size_t row_bytes = (size_t)table.cols * dtype_size(table.dtype);
  if (row_bytes % 16 == 0 && aligned16(out.data) && aligned16(table.data))
    launch_gather<uint4>(out, table, ids, stream_);
  else if (table.dtype == DType::BF16)
    launch_gather<uint16_t>(out, table, ids, stream_);
  else
    launch_gather<uint32_t>(out, table, ids, stream_);
}

}  // namespace gpubench
