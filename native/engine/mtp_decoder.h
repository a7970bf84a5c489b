// MTP speculative decoding (DeepSeek-V3 report, section 2.2, used as a draft model): each step the
// main model verifies every request's last token and its K drafts in one forward of 1 + K rows per
// request, accepts some drafts, emits them and its own next token after them, and the MTP layer
// drafts the next K tokens from the accepted rows' hidden states.
//
// With dummy weights the drafts would almost never match, so the accepted length is pinned, like
// the MoE routing; the work of a step is then that of a real one with that acceptance:
//   all      every draft accepted
//   N        N drafts accepted every step (0 <= N <= K)
//   rate r   request b of B accepts floor((n+1)Kr + b/B) - floor(nKr + b/B) drafts at step n: in
//            [floor(Kr), ceil(Kr)], Kr on average over the steps, and the offsets b/B spread the
//            roundings over the batch so every step accepts about B*K*r drafts in all.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/profiler.h"
#include "engine/rank_group.h"

namespace gpubench {

enum class AcceptKind { All, Fixed, Rate };

struct Acceptance {
  AcceptKind kind = AcceptKind::All;
  int64_t fixed = 0;  // Fixed: drafts accepted every step
  double rate = 1.0;  // Rate: the mean fraction of drafts accepted
};

// "all", "N" or "rate:r", as trace metadata names the setting.
std::string acceptance_text(const Acceptance& a);
// One-line Error(InvalidArgument) for N outside [0, K] and r outside [0, 1].
void check_acceptance(const Acceptance& a, int64_t drafts);
// One-line Error(InvalidArgument) for a model without MTP layers.
void check_mtp_model(const ModelSpec& spec);
// Drafts that request b of B accepts at step n, of K.
int64_t accepted_drafts(const Acceptance& a, int64_t K, int64_t step, int64_t b, int64_t B);
// Cache slots a request needs for `steps` MTP steps after input_len tokens: each step caches at most
// K + 1 tokens, the last verification writes K rows past them and the drafts after it K - 1 more.
int64_t mtp_context(int64_t input_len, int64_t steps, int64_t K);

// One request between steps: its cache, its last token (emitted, not in the cache yet) and the
// drafts proposed after it.
struct DecodeState {
  SequenceKv* kv = nullptr;
  int32_t cur = 0;
  std::vector<int32_t> drafts;
};

// What generate() keeps of request 0: the main model's logits of every emitted token (its row of
// the verification), each drafting's tokens and logits, and the drafts accepted per step.
struct MtpRecord {
  std::vector<std::vector<float>> logits;
  std::vector<std::vector<int32_t>> drafts;
  std::vector<std::vector<std::vector<float>>> draft_logits;
  std::vector<int64_t> accepted;
};

class MtpDecoder {
 public:
  // ctx_bound: the largest context of any forward (StepBuffers::set).
  MtpDecoder(RankGroup& model, int64_t drafts, const Acceptance& acceptance, int64_t ctx_bound)
      : model_(model), K_(drafts), acc_(acceptance), ctx_bound_(ctx_bound) {}

  // After the prefill forward of prompts[i] for request i (first tokens in reqs[i].cur): the MTP
  // layer runs over the prompt rows (row r: the hidden state at r, the token at r + 1) and drafts.
  void draft_after_prefill(std::vector<DecodeState>& reqs, const std::vector<const std::vector<int32_t>*>& prompts,
                           RankProfilers* prof, MtpRecord* rec);
  // Decode mode starts without hidden states to draft from: the first drafts repeat the last token
  // (the acceptance is pinned, so their values change nothing the step costs).
  void seed_drafts(std::vector<DecodeState>& reqs) const;
  // Step n: verify, accept, draft. Returns the tokens emitted over the batch (accepted drafts + 1
  // per request); appends request 0's to first_emitted when given.
  int64_t step(std::vector<DecodeState>& reqs, int64_t n, RankProfilers* prof, std::vector<int32_t>* first_emitted,
               MtpRecord* rec);

 private:
  // The MTP forward over `rows` (the last main forward's row layout, MTP input tokens, one logit
  // row per sequence: the row drafted from), then K - 1 more one-row forwards, each fed the previous
  // draft and its MTP hidden state.
  void draft(std::vector<DecodeState>& reqs, const std::vector<SeqStep>& rows, RankProfilers* prof, MtpRecord* rec);

  RankGroup& model_;
  int64_t K_;
  Acceptance acc_;
  int64_t ctx_bound_;
  std::vector<int32_t> verify_rows_, mtp_rows_;  // host token rows of the forwards
};

}  // namespace gpubench
