// init ops: dummy weights (base/rng.h) and constant fills. Reference: backend/cpu/init.cc.
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "base/rng.h"

namespace gpubench {

namespace {

constexpr int kThreads = 256;

// Enough blocks to fill every SM several times over; the grid-stride loops cover the rest, so
// a 16 GB tensor is one launch with no 32-bit index overflow.
unsigned grid_for(int64_t work, int num_sms) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>(blocks, (int64_t)num_sms * 16));
}

// Where element i of a [*, cols] block sits in the tensor whose dummy values it takes.
struct BlockIndex {
  int64_t first, cols, row_stride;
  __device__ __forceinline__ uint64_t operator()(int64_t i) const {
    return (uint64_t)(first + (i / cols) * row_stride + i % cols);
  }
};

// Each thread makes 8 consecutive bf16 values and stores them as one 16-byte write; the
// tail (n not a multiple of 8, or an unaligned view) falls back to single elements.
__global__ void init_dummy_bf16_kernel(uint16_t* w, int64_t n, uint64_t seed, uint64_t stream,
                                       float scale, BlockIndex at) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const bool vec = aligned16(w);
  const int64_t nvec = vec ? n / 8 : 0;
  for (int64_t v = first; v < nvec; v += stride) {
    uint32_t pair[4];  // bf16 j of a pair in the low half: memory order on little-endian
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t i = v * 8 + 2 * j;
      pair[j] = (uint32_t)dummy_weight_bits(seed, stream, at(i), scale) |
                ((uint32_t)dummy_weight_bits(seed, stream, at(i + 1), scale) << 16);
    }
    reinterpret_cast<uint4*>(w)[v] = make_uint4(pair[0], pair[1], pair[2], pair[3]);
  }
  for (int64_t i = nvec * 8 + first; i < n; i += stride)
    w[i] = dummy_weight_bits(seed, stream, at(i), scale);
}

__global__ void init_dummy_f32_kernel(float* w, int64_t n, uint64_t seed, uint64_t stream,
                                      float scale, BlockIndex at) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    w[i] = bf16_bits_to_f32(dummy_weight_bits(seed, stream, at(i), scale));
}

template <typename T>
__global__ void fill_kernel(T* t, int64_t n, T value) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) t[i] = value;
}

}  // namespace

void CudaBackend::init_dummy_block(Tensor w, uint64_t seed, uint64_t stream, float scale, int64_t first_index,
                                   int64_t index_row_stride) {
  const int64_t n = w.numel();
  if (n == 0) return;
  cudaStream_t s = stream_;
  const BlockIndex at{first_index, w.cols, index_row_stride};
  if (w.dtype == DType::BF16) {
    init_dummy_bf16_kernel<<<grid_for(n / 8 + 1, num_sms_), kThreads, 0, s>>>(
        static_cast<uint16_t*>(w.data), n, seed, stream, scale, at);
  } else if (w.dtype == DType::F32) {
    init_dummy_f32_kernel<<<grid_for(n, num_sms_), kThreads, 0, s>>>(
        static_cast<float*>(w.data), n, seed, stream, scale, at);
  } else {
    fail(ErrorCode::InvalidArgument, "init_dummy: i32 tensor");
  }
  check_launch();
}

void CudaBackend::fill(Tensor t, float value) {
  const int64_t n = t.numel();
  if (n == 0) return;
  cudaStream_t s = stream_;
  const unsigned grid = grid_for(n, num_sms_);
  // Every dtype is filled through its bit pattern, so bf16 gets exactly f32_to_bf16_bits(value).
  switch (t.dtype) {
    case DType::BF16:
      fill_kernel<uint16_t><<<grid, kThreads, 0, s>>>(static_cast<uint16_t*>(t.data), n,
                                                      f32_to_bf16_bits(value));
      break;
    case DType::F32:
      fill_kernel<float><<<grid, kThreads, 0, s>>>(static_cast<float*>(t.data), n, value);
      break;
    case DType::I32:
      fill_kernel<int32_t><<<grid, kThreads, 0, s>>>(static_cast<int32_t*>(t.data), n,
                                                     (int32_t)value);
      break;
  }
  check_launch();
}

}  // namespace gpubench
