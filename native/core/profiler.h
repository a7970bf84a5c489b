// Per-op device timing for the profiled pass: the forward pass opens a scope around every op;
// with no profiler attached (warm-up, timed pass, graph capture) a scope costs nothing.
#pragma once
#include <string>
#include <vector>

#include "backend/backend.h"

namespace gpubench {

struct OpTime {
  std::string op;
  int layer;        // -1 outside the layers
  double start_ms;  // from the pass's first op
  double ms;
};

class Profiler {
 public:
  explicit Profiler(Backend& be) : be_(be) {}
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  void begin(const char* op, int layer);
  void end();
  // Waits for the device and returns every op recorded since the last collect, in order; the
  // kernels the device ran meanwhile (where the backend traces them) are then in kernels().
  std::vector<OpTime> collect();
  const std::vector<KernelRecord>& kernels() const { return kernels_; }

 private:
  struct Open {
    const char* op;
    int layer;
    Event start, end;
  };
  Backend& be_;
  std::vector<Open> ops_;
  std::vector<Event> spare_;
  Event origin_ = nullptr;
  std::vector<KernelRecord> kernels_;
  Event take();
};

// RAII scope: `OpScope s(prof, "matmul.qkv", l);` around one op.
class OpScope {
 public:
  OpScope(Profiler* p, const char* op, int layer) : p_(p) { if (p_) p_->begin(op, layer); }
  ~OpScope() { if (p_) p_->end(); }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  Profiler* p_;
};

}  // namespace gpubench
