// embedding: gather rows of a table (token embeddings, or rows of activations) by index.
#include <cstring>

#include "backend/cpu/cpu_backend.h"

namespace gpubench {

void CpuBackend::embedding(Tensor out, Tensor table, const int32_t* ids) {
  check_f32("embedding", "out", out);
  check_f32("embedding", "table", table);
  check_embedding(out, table);
  // The CUDA kernel cannot report a bad id; the reference catches it before any write.
  for (int64_t r = 0; r < out.rows; ++r)
    if (ids[r] < 0 || ids[r] >= table.rows)
      invalid("embedding", "id ", ids[r], " at row ", r, " outside [0, ", table.rows, ")");
  size_t row_bytes = (size_t)table.cols * sizeof(float);
  pool_.parallel_for(out.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      std::memcpy(out.row(r).data, table.row(ids[r]).data, row_bytes);
  }, grain_for(table.cols));
}

}  // namespace gpubench
