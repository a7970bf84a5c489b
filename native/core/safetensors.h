// Safetensors reader: one .safetensors file, or every *.safetensors file in a folder (sharded
// Hugging Face checkpoints). Files are mapped read-only; read_f32 checks the shape and converts
// BF16/F16/F32 to fp32. Every problem is an Error(ErrorCode::Weights) with a one-line message
// that names the file and the tensor.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {..strings..}, "name": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ..}
// then the data section; [b, e) is relative to the start of the data section.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gpubench {

struct SafetensorInfo {
  std::string dtype;           // as written in the header: BF16, F16, F32 (others are listed but not readable)
  std::vector<int64_t> shape;
  std::string file;            // the file that holds the tensor
  uint64_t offset = 0;         // absolute byte offset of the tensor's data in `file`
  uint64_t nbytes = 0;
};

class SafetensorsSet {
 public:
  explicit SafetensorsSet(const std::string& path);  // a file or a directory of *.safetensors
  // The same parse and checks over one file's bytes already in memory (the caller keeps them alive
  // as long as the set); `name` stands for the file in messages. The seam the fuzzer drives.
  static std::unique_ptr<SafetensorsSet> from_bytes(const uint8_t* data, uint64_t size, const std::string& name);
  ~SafetensorsSet();                                 // unmaps every file
  SafetensorsSet(const SafetensorsSet&) = delete;
  SafetensorsSet& operator=(const SafetensorsSet&) = delete;

  bool has(const std::string& name) const;
  // Throws Error(Weights, "tensor 'x' not found in <path> (N tensors; e.g. a, b, c)").
  const SafetensorInfo& info(const std::string& name) const;
  // Checks the tensor's shape equals `shape` exactly, then writes numel fp32 values into dst.
  // Supported dtypes: BF16, F16 (subnormals, inf and nan kept), F32.
  void read_f32(const std::string& name, const std::vector<int64_t>& shape, float* dst) const;
  // The same checks, then only the block of rows [row0, row0 + rows) and columns [col0, col0 + cols)
  // into dst as [rows, cols] (a rank's shard; a 1-D tensor [n] reads as [n, 1]).
  void read_f32_block(const std::string& name, const std::vector<int64_t>& shape, int64_t row0, int64_t rows,
                      int64_t col0, int64_t cols, float* dst) const;
  // The tensor's bytes as stored (little-endian, info(name).nbytes long), e.g. to upload bf16 as is.
  const uint8_t* raw(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const std::string& path() const;

 private:
  SafetensorsSet();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Element conversions, exposed for tests and for backends that convert on their own.
float bf16_to_f32(uint16_t h);
float f16_to_f32(uint16_t h);

}  // namespace gpubench
