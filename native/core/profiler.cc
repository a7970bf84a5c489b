#include "core/profiler.h"

namespace gpubench {

Profiler::~Profiler() {
  for (auto& o : ops_) {
    be_.event_destroy(o.start);
    be_.event_destroy(o.end);
  }
  for (Event e : spare_) be_.event_destroy(e);
  if (origin_) be_.event_destroy(origin_);
}

Event Profiler::take() {
  if (spare_.empty()) return be_.event_create();
  Event e = spare_.back();
  spare_.pop_back();
  return e;
}

void Profiler::begin(const char* op, int layer) {
  if (!origin_) {
    be_.kernel_trace_begin();
    be_.hold_stream();  // released by collect(): the step's ops then run back to back
    origin_ = be_.event_create();
    be_.event_record(origin_);
  }
  Open o{op, layer, take(), take()};
  be_.event_record(o.start);
  ops_.push_back(o);
}

void Profiler::end() { be_.event_record(ops_.back().end); }

std::vector<OpTime> Profiler::collect() {
  be_.release_stream();
  be_.synchronize();
  kernels_ = origin_ ? be_.kernel_trace_end() : std::vector<KernelRecord>{};
  std::vector<OpTime> out;
  out.reserve(ops_.size());
  for (auto& o : ops_) {
    out.push_back(OpTime{o.op, o.layer, be_.event_elapsed_ms(origin_, o.start), be_.event_elapsed_ms(o.start, o.end)});
    spare_.push_back(o.start);
    spare_.push_back(o.end);
  }
  ops_.clear();
  if (origin_) {
    be_.event_destroy(origin_);
    origin_ = nullptr;
  }
  return out;
}

}  // namespace gpubench
