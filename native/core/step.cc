#include "core/step.h"

#include <algorithm>
#include <string>

#include "base/error.h"

namespace gpubench {

StepBuffers::StepBuffers(Backend& be, int64_t max_tokens, int64_t max_seqs, int64_t max_logit_rows,
                         int64_t max_blocks_per_seq, int64_t block_size)
    : be_(be), max_tokens_(max_tokens), max_seqs_(max_seqs), max_logit_rows_(max_logit_rows),
      max_blocks_per_seq_(max_blocks_per_seq), block_size_(block_size) {
  int64_t off = 0;
  auto take = [&](int64_t n) { int64_t o = off; off += (n + 31) / 32 * 32; return o; };
  off_tokens_ = take(max_tokens);
  off_positions_ = take(max_tokens);
  off_slots_ = take(max_tokens);
  off_q_start_ = take(max_seqs + 1);
  off_ctx_len_ = take(max_seqs);
  off_block_table_ = take(max_seqs * max_blocks_per_seq);
  off_logit_rows_ = take(max_logit_rows);
  host_.assign(off, 0);
  device_ = be_.alloc(host_.size() * sizeof(int32_t));
  be_.copy_to_device(device_, host_.data(), host_.size() * sizeof(int32_t));
}

StepBuffers::~StepBuffers() { be_.release(device_); }

void StepBuffers::set(const std::vector<SeqStep>& seqs, int64_t ctx_bound) {
  int64_t t = 0, r = 0;
  max_q_len_ = 0;
  max_ctx_len_ = 0;
  cached_prefix_ = false;
  if ((int64_t)seqs.size() > max_seqs_) fail(ErrorCode::Internal, "step has more sequences than the engine holds");
  for (size_t s = 0; s < seqs.size(); ++s) {
    const SeqStep& q = seqs[s];
    int64_t ctx = q.start_pos + q.num_tokens;
    if (t + q.num_tokens > max_tokens_) {
      fail(ErrorCode::Internal, "step has more than " + std::to_string(max_tokens_) + " tokens");
    }
    if ((int64_t)q.kv->blocks.size() * block_size_ < ctx || (int64_t)q.kv->blocks.size() > max_blocks_per_seq_) {
      fail(ErrorCode::Internal, "sequence has too few or too many KV blocks for its context");
    }
    host_[off_q_start_ + s] = (int32_t)t;
    host_[off_ctx_len_ + s] = (int32_t)ctx;
    for (int64_t i = 0; i < q.num_tokens; ++i, ++t) {
      int64_t pos = q.start_pos + i;
      host_[off_tokens_ + t] = q.tokens[i];
      host_[off_positions_ + t] = (int32_t)pos;
      host_[off_slots_ + t] = q.kv->slot(pos, block_size_);
    }
    const int64_t first = q.logit_begin < 0 ? q.num_tokens - 1 : q.logit_begin;
    const int64_t count = q.logit_begin < 0 ? 1 : q.logit_rows;
    if (first + count > q.num_tokens || count < 1 || r + count > max_logit_rows_) {
      fail(ErrorCode::Internal, "step asks for logit rows outside its sequence or beyond " + std::to_string(max_logit_rows_));
    }
    for (int64_t i = 0; i < count; ++i) host_[off_logit_rows_ + r++] = (int32_t)(t - q.num_tokens + first + i);
    std::copy(q.kv->blocks.begin(), q.kv->blocks.end(), host_.begin() + off_block_table_ + s * max_blocks_per_seq_);
    max_q_len_ = std::max(max_q_len_, q.num_tokens);
    max_ctx_len_ = std::max(max_ctx_len_, ctx);
    cached_prefix_ = cached_prefix_ || q.start_pos > 0;
  }
  host_[off_q_start_ + seqs.size()] = (int32_t)t;
  num_tokens_ = t;
  num_seqs_ = (int64_t)seqs.size();
  num_logit_rows_ = r;
  if (ctx_bound > 0) max_ctx_len_ = std::max(max_ctx_len_, ctx_bound);
  be_.copy_to_device(device_, host_.data(), host_.size() * sizeof(int32_t));
}

AttnMeta StepBuffers::attn_meta() const {
  AttnMeta m;
  m.num_seqs = (int)num_seqs_;
  m.max_q_len = (int)max_q_len_;
  m.max_ctx_len = (int)max_ctx_len_;
  m.max_blocks_per_seq = (int)max_blocks_per_seq_;
  m.q_start = dev(off_q_start_);
  m.ctx_len = dev(off_ctx_len_);
  m.block_table = dev(off_block_table_);
  return m;
}

}  // namespace gpubench
