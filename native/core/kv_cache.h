// Paged KV cache: one pool of fixed-size blocks per layer (K and V), handed out to requests
// through per-request block tables (nano-vllm's block manager without prefix sharing).
// The allocator is pure bookkeeping; the pool memory belongs to the backend.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace gpubench {

class BlockAllocator {
 public:
  BlockAllocator(int64_t num_blocks, int64_t block_size);
  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }
  int64_t free_blocks() const { return (int64_t)free_.size(); }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  bool can_allocate(int64_t blocks) const { return blocks <= free_blocks(); }
  // Takes `blocks` blocks; throws Error(DoesNotFit) when the pool has fewer free.
  std::vector<int32_t> allocate(int64_t blocks);
  void release(const std::vector<int32_t>& blocks);

 private:
  int64_t num_blocks_, block_size_;
  std::vector<int32_t> free_;  // a stack: the most recently freed block is reused first
};

// What one token stores in one layer: K and V of num_kv_heads heads (GQA), or, without values,
// one row of head_dim elements (MLA: the latent and the rope key, see Backend::mla_attention).
struct KvShape {
  int64_t num_layers = 0, num_kv_heads = 0, head_dim = 0;
  bool values = true;
  int64_t pools() const { return values ? 2 : 1; }
};

// The device memory of the cache: for each layer a K pool (and a V pool) of
// [num_blocks][num_kv_heads][block_size][head_dim].
class KvPool {
 public:
  KvPool(Backend& be, const KvShape& shape, int64_t num_blocks, int64_t block_size);
  static int64_t bytes_per_token(const KvShape& shape, DType dtype);
  ~KvPool();
  KvPool(const KvPool&) = delete;
  KvPool& operator=(const KvPool&) = delete;

  KvLayer layer(int64_t l) const;
  int64_t bytes_per_token() const { return bytes_per_token(shape_, be_.act_dtype()); }  // all layers
  size_t total_bytes() const { return bytes_; }
  // Small finite values everywhere, so attention over fake (decode-only) KV never sees NaN/Inf.
  void fill_finite(uint64_t seed);

 private:
  Backend& be_;
  KvShape shape_;
  int64_t num_blocks_, block_size_;
  size_t bytes_ = 0;
  void* mem_ = nullptr;
};

// The blocks one request holds and the tokens it has in the cache.
struct SequenceKv {
  std::vector<int32_t> blocks;
  int64_t num_tokens = 0;
  // Cache slot of token position p.
  int32_t slot(int64_t p, int64_t block_size) const {
    return blocks[p / block_size] * (int32_t)block_size + (int32_t)(p % block_size);
  }
};

// Refuses a batch up front, naming needed and available tokens and bytes.
void check_batch_fits(const BlockAllocator& alloc, int64_t batch, int64_t tokens_per_request,
                      int64_t bytes_per_token);

}  // namespace gpubench
