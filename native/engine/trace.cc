#include "engine/trace.h"

#include <cstdio>
#include <fstream>

#include "base/error.h"

namespace gpubench {

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      default:
        if ((unsigned char)c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o;
}

void ChromeTrace::add_step(const std::string& name, const std::vector<OpTime>& ops,
                           const std::vector<KernelRecord>& kernels,
                           const std::vector<std::vector<OpTime>>& other_ranks) {
  double end_us = 0;
  for (const auto& op : ops) end_us = std::max(end_us, (op.start_ms + op.ms) * 1000.0);
  const double first_op_us = ops.empty() ? 0.0 : ops[0].start_ms * 1000.0;
  for (const auto& k : kernels) end_us = std::max(end_us, first_op_us + (k.start_ms + k.ms) * 1000.0);
  for (const auto& rank_ops : other_ranks)
    for (const auto& op : rank_ops) end_us = std::max(end_us, (op.start_ms + op.ms) * 1000.0);
  events_.push_back({name, "step", -1, cursor_us_, end_us, 1});
  for (const auto& op : ops) {
    events_.push_back({op.op, "op", op.layer, cursor_us_ + op.start_ms * 1000.0, op.ms * 1000.0, 1});
  }
  for (const auto& k : kernels) {
    events_.push_back({k.name, "kernel", -1, cursor_us_ + first_op_us + k.start_ms * 1000.0, k.ms * 1000.0, 2});
  }
  for (size_t i = 0; i < other_ranks.size(); ++i) {
    const int tid = kRankTid + (int)i + 1;
    for (const auto& op : other_ranks[i]) {
      events_.push_back({op.op, "op", op.layer, cursor_us_ + op.start_ms * 1000.0, op.ms * 1000.0, tid});
    }
  }
  ranks_ = std::max(ranks_, (int)other_ranks.size() + 1);
  cursor_us_ += end_us + 1.0;  // a 1 us gap keeps steps visibly apart
}

void ChromeTrace::write(const std::string& path) const {
  std::ofstream f(path);
  if (!f) fail(ErrorCode::InvalidArgument, "cannot write trace file '" + path + "'");
  f << "{\"displayTimeUnit\":\"ms\",\"metadata\":{";
  bool first = true;
  for (const auto& [k, v] : metadata_) {
    f << (first ? "" : ",") << "\"" << json_escape(k) << "\":\"" << json_escape(v) << "\"";
    first = false;
  }
  f << "},\"traceEvents\":[\n";
  f << "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"gpubench\"}},\n"
    << "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"ops (device events)\"}},\n"
    << "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":2,\"args\":{\"name\":\"kernels\"}}";
  for (int r = 1; r < ranks_; ++r) {
    f << ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":" << kRankTid + r
      << ",\"args\":{\"name\":\"rank " << r << " ops (device events)\"}}";
  }
  char buf[128];
  for (const auto& e : events_) {
    std::snprintf(buf, sizeof buf, "\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f", e.tid, e.ts_us, e.dur_us);
    f << ",\n{\"name\":\"" << json_escape(e.name) << "\",\"cat\":\"" << e.cat << "\",\"ph\":\"X\",\"pid\":1," << buf;
    if (e.layer >= 0) f << ",\"args\":{\"layer\":" << e.layer << "}";
    f << "}";
  }
  f << "\n]}\n";
  if (!f) fail(ErrorCode::InvalidArgument, "cannot write trace file '" + path + "'");
}

}  // namespace gpubench
