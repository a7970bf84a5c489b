// Chrome trace ("Trace Event Format") writer for the profiled pass: one complete ("X") event per
// step enclosing one per op, which Perfetto and chrome://tracing show as a timeline.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/profiler.h"

namespace gpubench {

class ChromeTrace {
 public:
  // A step (the prefill, decode step i) whose ops were timed from the step's start, and the
  // device kernels it ran (their own track; aligned so the first kernel starts with the first op).
  void add_step(const std::string& name, const std::vector<OpTime>& ops,
                const std::vector<KernelRecord>& kernels = {});
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  bool empty() const { return events_.empty(); }
  // Throws Error(InvalidArgument) naming the path when the file cannot be written.
  void write(const std::string& path) const;

 private:
  struct Ev {
    std::string name, cat;
    int layer;
    double ts_us, dur_us;
    int tid;  // 1: steps and ops, 2: device kernels
  };
  std::vector<Ev> events_;
  std::map<std::string, std::string> metadata_;
  double cursor_us_ = 0;  // steps are laid end to end
};

std::string json_escape(const std::string& s);

}  // namespace gpubench
