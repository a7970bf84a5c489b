// The per-step metadata the kernels read (token ids, positions, cache slots, attention layout),
// packed into one device buffer of int32 with fixed offsets: a step uploads it with a single copy,
// and a CUDA graph captured once stays valid because the pointers never move.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/kv_cache.h"

namespace gpubench {

// One sequence's part of a step: `tokens` are new tokens at positions start_pos, start_pos+1, ...
// Its rows [logit_begin, logit_begin + logit_rows) go through the LM head; logit_begin -1 means the
// last row only (a plain step). MTP verification needs every row, an MTP draft the accepted one.
struct SeqStep {
  const SequenceKv* kv;
  const int32_t* tokens;
  int64_t num_tokens;
  int64_t start_pos;
  int64_t logit_begin = -1;
  int64_t logit_rows = 1;
};

class StepBuffers {
 public:
  StepBuffers(Backend& be, int64_t max_tokens, int64_t max_seqs, int64_t max_logit_rows, int64_t max_blocks_per_seq,
              int64_t block_size);
  ~StepBuffers();
  StepBuffers(const StepBuffers&) = delete;
  StepBuffers& operator=(const StepBuffers&) = delete;

  // Fills the host copy for these sequences and uploads it. ctx_bound (0: the step's largest
  // context) sizes the attention grid; decode passes the point's final context so that one graph
  // serves every step.
  void set(const std::vector<SeqStep>& seqs, int64_t ctx_bound = 0);

  int64_t num_tokens() const { return num_tokens_; }
  int64_t num_seqs() const { return num_seqs_; }
  int64_t num_logit_rows() const { return num_logit_rows_; }
  int64_t max_tokens() const { return max_tokens_; }
  int64_t max_seqs() const { return max_seqs_; }
  // Whether some sequence of the step has tokens in the cache from earlier steps.
  bool has_cached_prefix() const { return cached_prefix_; }
  const int32_t* tokens() const { return dev(off_tokens_); }
  const int32_t* positions() const { return dev(off_positions_); }
  const int32_t* slots() const { return dev(off_slots_); }
  const int32_t* logit_rows() const { return dev(off_logit_rows_); }  // the step rows the LM head reads
  AttnMeta attn_meta() const;

 private:
  const int32_t* dev(int64_t off) const { return (const int32_t*)device_ + off; }
  Backend& be_;
  int64_t max_tokens_, max_seqs_, max_logit_rows_, max_blocks_per_seq_, block_size_;
  int64_t off_tokens_, off_positions_, off_slots_, off_q_start_, off_ctx_len_, off_block_table_, off_logit_rows_;
  std::vector<int32_t> host_;
  void* device_ = nullptr;
  int64_t num_tokens_ = 0, num_seqs_ = 0, num_logit_rows_ = 0, max_q_len_ = 0, max_ctx_len_ = 0;
  bool cached_prefix_ = false;
};

}  // namespace gpubench
