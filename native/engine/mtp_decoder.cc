#include "engine/mtp_decoder.h"

#include <cmath>
#include <sstream>

#include "base/error.h"

namespace gpubench {

namespace {
std::string shortest(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

std::string acceptance_text(const Acceptance& a) {
  if (a.kind == AcceptKind::All) return "all";
  if (a.kind == AcceptKind::Fixed) return std::to_string(a.fixed);
  return "rate:" + shortest(a.rate);
}

void check_acceptance(const Acceptance& a, int64_t drafts) {
  if (a.kind == AcceptKind::Fixed && (a.fixed < 0 || a.fixed > drafts)) {
    fail(ErrorCode::InvalidArgument, "mtp accept " + std::to_string(a.fixed) + " is not allowed (allowed: 0.." +
                                         std::to_string(drafts) + ", the drafts per step)");
  }
  if (a.kind == AcceptKind::Rate && !(a.rate >= 0.0 && a.rate <= 1.0)) {
    fail(ErrorCode::InvalidArgument, "mtp accept rate " + shortest(a.rate) + " is not allowed (allowed: 0..1)");
  }
}

void check_mtp_model(const ModelSpec& spec) {
  if (spec.mtp_layers > 0) return;
  fail(ErrorCode::InvalidArgument,
       "MTP needs a model with MTP layers; model_type '" + spec.model_type + "' has num_nextn_predict_layers 0");
}

int64_t accepted_drafts(const Acceptance& a, int64_t K, int64_t step, int64_t b, int64_t B) {
  if (a.kind == AcceptKind::All) return K;
  if (a.kind == AcceptKind::Fixed) return a.fixed;
  // The same expression order as lib/ (and its tests), so both round alike.
  const double offset = (double)b / (double)B;
  return (int64_t)(std::floor((double)(step + 1) * K * a.rate + offset) - std::floor((double)step * K * a.rate + offset));
}

int64_t mtp_context(int64_t input_len, int64_t steps, int64_t K) { return input_len + steps * (K + 1) + K; }

void MtpDecoder::seed_drafts(std::vector<DecodeState>& reqs) const {
  for (auto& r : reqs) r.drafts.assign(K_, r.cur);
}

void MtpDecoder::draft_after_prefill(std::vector<DecodeState>& reqs,
                                      const std::vector<const std::vector<int32_t>*>& prompts, RankProfilers* prof,
                                      MtpRecord* rec) {
  const int64_t B = (int64_t)reqs.size(), L = (int64_t)prompts[0]->size();
  mtp_rows_.resize(B * L);
  std::vector<SeqStep> rows(B);
  for (int64_t i = 0; i < B; ++i) {
    int32_t* next = &mtp_rows_[i * L];
    std::copy(prompts[i]->begin() + 1, prompts[i]->end(), next);
    next[L - 1] = reqs[i].cur;
    rows[i] = SeqStep{reqs[i].kv, next, L, 0, L - 1, 1};
  }
  draft(reqs, rows, prof, rec);
}

int64_t MtpDecoder::step(std::vector<DecodeState>& reqs, int64_t n, RankProfilers* prof,
                          std::vector<int32_t>* first_emitted, MtpRecord* rec) {
  const int64_t B = (int64_t)reqs.size(), R = 1 + K_;
  verify_rows_.resize(B * R);
  mtp_rows_.resize(B * R);
  std::vector<SeqStep> seqs(B);
  for (int64_t i = 0; i < B; ++i) {
    int32_t* row = &verify_rows_[i * R];
    row[0] = reqs[i].cur;
    std::copy(reqs[i].drafts.begin(), reqs[i].drafts.end(), row + 1);
    seqs[i] = SeqStep{reqs[i].kv, row, R, reqs[i].kv->num_tokens, 0, R};
  }
  model_.forward(seqs, ctx_bound_, prof);
  const std::vector<int32_t> greedy = model_.next_tokens(B * R);
  const std::vector<float> logits = rec ? model_.logits(R) : std::vector<float>{};

  int64_t emitted = 0;
  for (int64_t i = 0; i < B; ++i) {
    const int64_t a = accepted_drafts(acc_, K_, n, i, B);
    const int32_t* g = &greedy[i * R];
    DecodeState& r = reqs[i];
    // The MTP rows are the verified ones, each with the token after it: an accepted draft, then the
    // main model's own token; rows past it feed the next step nothing (their cache rows lie beyond
    // the accepted tokens and are overwritten before anything attends to them).
    int32_t* next = &mtp_rows_[i * R];
    for (int64_t j = 0; j < R; ++j) next[j] = j < a ? r.drafts[j] : g[j];
    seqs[i].tokens = next;
    seqs[i].logit_begin = a;
    seqs[i].logit_rows = 1;
    if (i == 0 && first_emitted) first_emitted->insert(first_emitted->end(), next, next + a + 1);
    if (i == 0 && rec) {
      const int64_t V = model_.spec().vocab_size;
      rec->accepted.push_back(a);
      for (int64_t j = 0; j <= a; ++j) rec->logits.emplace_back(logits.begin() + j * V, logits.begin() + (j + 1) * V);
    }
    // The verification cached the last token and the accepted drafts (and, past them, rejected rows
    // that later steps overwrite); seqs[i] keeps the step's start position for the drafting.
    r.kv->num_tokens += a + 1;
    r.cur = g[a];
    emitted += a + 1;
  }
  draft(reqs, seqs, prof, rec);
  return emitted;
}

void MtpDecoder::draft(std::vector<DecodeState>& reqs, const std::vector<SeqStep>& rows, RankProfilers* prof,
                        MtpRecord* rec) {
  const int64_t B = (int64_t)reqs.size(), M = model_.mtp_layers();
  if (rec) {
    rec->drafts.emplace_back();
    rec->draft_logits.emplace_back();
  }
  std::vector<SeqStep> one(B);
  for (int64_t k = 0; k < K_; ++k) {
    if (k == 0) {
      model_.forward_mtp(rows, ctx_bound_, prof, 0, true);
    } else {
      // Draft k continues right after the row the first one came from. With more drafts than MTP
      // layers the layers take turns (as vLLM and SGLang reuse DeepSeek-V3's single one); a layer
      // after the first holds cache rows of its own drafts only, and the pool's filler elsewhere,
      // which costs what a filled cache costs (no released checkpoint has a second MTP layer).
      for (int64_t i = 0; i < B; ++i) {
        one[i] = SeqStep{reqs[i].kv, &reqs[i].drafts[k - 1], 1, rows[i].start_pos + rows[i].logit_begin + k};
      }
      model_.forward_mtp(one, ctx_bound_, prof, k % M, false);
    }
    const std::vector<int32_t> d = model_.next_tokens(B);
    for (int64_t i = 0; i < B; ++i) reqs[i].drafts[k] = d[i];
    if (rec) {
      rec->drafts.back().push_back(d[0]);
      rec->draft_logits.back().push_back(model_.logits(1));
    }
  }
}

}  // namespace gpubench
