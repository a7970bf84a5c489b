#include "engine/decode_step.h"

namespace gpubench {

int64_t DecodeStep::run(std::vector<DecodeState>& reqs, int64_t s, RankProfilers* prof, bool graph, StepEvents events,
                        std::vector<int32_t>* first_emitted, MtpRecord* rec) {
  const int64_t B = (int64_t)reqs.size();
  model_.pin_routing(routing_, first_step_ + s, B * (1 + K_));
  if (events.start) model_.event_record(events.start);
  if (K_ > 0) {
    const int64_t emitted = mtp_.step(reqs, s, prof, first_emitted, rec);
    if (events.end) model_.event_record(events.end);
    return emitted;
  }
  seqs_.resize(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) seqs_[i] = SeqStep{reqs[i].kv, &reqs[i].cur, 1, reqs[i].kv->num_tokens};
  if (graph) {
    model_.forward_graph(seqs_, context_);
  } else {
    model_.forward(seqs_, context_, prof);
  }
  if (events.end) model_.event_record(events.end);
  const std::vector<int32_t> next = model_.next_tokens(B);
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].cur = next[i];
    reqs[i].kv->num_tokens += 1;
  }
  if (first_emitted) first_emitted->push_back(next[0]);
  return B;
}

}  // namespace gpubench
