#include "core/kv_cache.h"

#include "base/error.h"

namespace gpubench {

BlockAllocator::BlockAllocator(int64_t num_blocks, int64_t block_size)
    : num_blocks_(num_blocks), block_size_(block_size) {
  if (num_blocks <= 0 || block_size <= 0) fail(ErrorCode::InvalidArgument, "KV pool needs at least one block");
  free_.reserve(num_blocks);
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back((int32_t)b);
}

std::vector<int32_t> BlockAllocator::allocate(int64_t blocks) {
  if (!can_allocate(blocks)) {
    fail(ErrorCode::DoesNotFit, "KV pool exhausted: need " + std::to_string(blocks) + " blocks, " +
                                    std::to_string(free_blocks()) + " free of " + std::to_string(num_blocks_));
  }
  std::vector<int32_t> out(free_.end() - blocks, free_.end());
  free_.resize(free_.size() - blocks);
  return out;
}

void BlockAllocator::release(const std::vector<int32_t>& blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) free_.push_back(*it);
}

void check_batch_fits(const BlockAllocator& alloc, int64_t batch, int64_t tokens_per_request,
                      int64_t bytes_per_token) {
  int64_t need_blocks = batch * alloc.blocks_for(tokens_per_request);
  if (need_blocks <= alloc.free_blocks()) return;
  int64_t need_tokens = need_blocks * alloc.block_size();
  int64_t have_tokens = alloc.free_blocks() * alloc.block_size();
  fail(ErrorCode::DoesNotFit,
       "batch does not fit the KV cache: needs " + std::to_string(need_tokens) + " tokens (" +
           std::to_string(batch) + " x " + std::to_string(tokens_per_request) + ", " +
           std::to_string(need_tokens * bytes_per_token) + " bytes), " + std::to_string(have_tokens) +
           " tokens (" + std::to_string(have_tokens * bytes_per_token) + " bytes) available");
}

KvPool::KvPool(Backend& be, const KvShape& shape, int64_t num_blocks, int64_t block_size)
    : be_(be), shape_(shape), num_blocks_(num_blocks), block_size_(block_size) {
  bytes_ = (size_t)bytes_per_token() * num_blocks * block_size;
  mem_ = be_.alloc(bytes_);
}

KvPool::~KvPool() { be_.release(mem_); }

int64_t KvPool::bytes_per_token(const KvShape& s, DType dtype) {
  return s.num_layers * s.pools() * s.num_kv_heads * s.head_dim * (int64_t)dtype_size(dtype);
}

KvLayer KvPool::layer(int64_t l) const {
  size_t per_pool = (size_t)num_blocks_ * shape_.num_kv_heads * block_size_ * shape_.head_dim * dtype_size(be_.act_dtype());
  char* base = (char*)mem_ + per_pool * shape_.pools() * l;
  return KvLayer{base, shape_.values ? base + per_pool : nullptr, num_blocks_, block_size_, shape_.num_kv_heads,
                 shape_.head_dim};
}

void KvPool::fill_finite(uint64_t seed) {
  int64_t numel = (int64_t)(bytes_ / dtype_size(be_.act_dtype()));
  int64_t cols = shape_.head_dim;
  be_.init_dummy(Tensor{mem_, be_.act_dtype(), numel / cols, cols}, seed, 0x4B56ull /* "KV" */, 0.5f);
}

}  // namespace gpubench
