// init ops: dummy weights (the same bf16 values on every backend, held here as fp32) and fill.
#include "backend/cpu/cpu_backend.h"
#include "base/rng.h"

namespace gpubench {

void CpuBackend::init_dummy_block(Tensor w, uint64_t seed, uint64_t stream, float scale, int64_t first_index,
                                  int64_t index_row_stride) {
  check_float("init_dummy", "w", w);
  bool bf16 = w.dtype == DType::BF16;
  pool_.parallel_for(w.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t at = first_index + (i / w.cols) * index_row_stride + i % w.cols;
      uint16_t bits = dummy_weight_bits(seed, stream, (uint64_t)at, scale);
      if (bf16)
        static_cast<uint16_t*>(w.data)[i] = bits;
      else
        static_cast<float*>(w.data)[i] = bf16_bits_to_f32(bits);
    }
  }, grain_for(16));
}

void CpuBackend::fill(Tensor t, float value) {
  check_float("fill", "t", t);
  if (t.dtype == DType::BF16) {
    uint16_t bits = f32_to_bf16_bits(value);
    uint16_t* d = static_cast<uint16_t*>(t.data);
    for (int64_t i = 0; i < t.numel(); ++i) d[i] = bits;
    return;
  }
  float* d = static_cast<float*>(t.data);
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = value;
}

}  // namespace gpubench
