// One decode step over a batch of requests, the same for the benchmark passes (PointRunner::run)
// and generate(): the step's pinned routing, then either the MTP step (verify 1 + K tokens per
// request, accept, draft) or one forward of one token per request (the CUDA graph's replay, or
// eagerly), then the greedy tokens read back as each request's next input.
#pragma once
#include <cstdint>
#include <vector>

#include "core/profiler.h"
#include "core/routing.h"
#include "engine/mtp_decoder.h"
#include "engine/rank_group.h"

namespace gpubench {

// Device events around a step (RankGroup::event_create; either may be null): `start` once the
// routing is pinned, `end` once the forward is enqueued and before the host reads its tokens back;
// with MTP, after the step, whose drafting reads the verification's tokens on the host.
struct StepEvents {
  Event start = nullptr;
  Event end = nullptr;
};

class DecodeStep {
 public:
  // context: the largest context of any forward (StepBuffers::set); first_step: the index of the
  // first decode step among the point's forwards (1 after a prefill), so that every pass pins the
  // same experts at the same step.
  DecodeStep(RankGroup& model, MtpDecoder& mtp, const RoutingPolicy& routing, int64_t drafts, int64_t context,
             int64_t first_step)
      : model_(model), mtp_(mtp), routing_(routing), K_(drafts), context_(context), first_step_(first_step) {}

  // Step s (from 0) of every request. Returns the tokens emitted over the batch (1 per request,
  // or the accepted drafts + 1 with MTP) and appends request 0's to first_emitted when given.
  int64_t run(std::vector<DecodeState>& reqs, int64_t s, RankProfilers* prof, bool graph, StepEvents events,
              std::vector<int32_t>* first_emitted, MtpRecord* rec);

 private:
  RankGroup& model_;
  MtpDecoder& mtp_;
  const RoutingPolicy& routing_;
  int64_t K_, context_, first_step_;
  std::vector<SeqStep> seqs_;
};

}  // namespace gpubench
