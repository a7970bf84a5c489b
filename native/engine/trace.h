// Chrome trace ("Trace Event Format") writer for the profiled pass: one complete ("X") event per
// step enclosing one per op, which Perfetto and chrome://tracing show as a timeline; under a
// parallel layout one track of ops per rank.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/profiler.h"

namespace gpubench {

class ChromeTrace {
 public:
  // A step (the prefill, decode step i) whose ops were timed from the step's start, and the
  // device kernels it ran (their own track; aligned so the first kernel starts with the first op);
  // other_ranks[i]: rank i + 1's ops of the step, on that rank's track from the same start.
  void add_step(const std::string& name, const std::vector<OpTime>& ops,
                const std::vector<KernelRecord>& kernels = {},
                const std::vector<std::vector<OpTime>>& other_ranks = {});
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  bool empty() const { return events_.empty(); }
  // Throws Error(InvalidArgument) naming the path when the file cannot be written.
  void write(const std::string& path) const;

 private:
  struct Ev {
    std::string name, cat;
    int layer;
    double ts_us, dur_us;
    int tid;  // 1: steps and (rank 0's) ops, 2: device kernels, kRankTid + r: rank r's ops
  };
  static constexpr int kRankTid = 100;
  std::vector<Ev> events_;
  int ranks_ = 1;
  std::map<std::string, std::string> metadata_;
  double cursor_us_ = 0;  // steps are laid end to end
};

std::string json_escape(const std::string& s);

}  // namespace gpubench
