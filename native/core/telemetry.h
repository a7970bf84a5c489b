// Device telemetry of a timed pass: a sampler thread reads a TelemetrySource (NVML on a GPU,
// core/nvml.h; a fake in the tests) every period while the pass runs, and the source's energy
// counter is read at its start, at marks (the prefill's end) and at its end. Summaries (min, median,
// max, joules per token) are computed from this in lib/api/telemetry.ts.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gpubench {

// One reading; NaN where the source could not read a value.
struct TelemetryReading {
  double sm_clock_mhz, mem_clock_mhz, power_w, temp_c, mem_used_bytes;
  uint64_t clock_event_reasons;  // NVML's clocks event (throttle) reason bits; 0 where unknown
};

struct TelemetrySample {
  double t_ms;  // since the sampler started
  TelemetryReading r;
};

class TelemetrySource {
 public:
  virtual ~TelemetrySource() = default;
  virtual TelemetryReading read() = 0;
  // The device's total energy counter (millijoules); false where the device has none.
  virtual bool energy_mj(uint64_t& mj) = 0;
};

struct TelemetryTrace {
  std::vector<TelemetrySample> samples;
  uint64_t reasons = 0;            // every sample's reason bits OR'ed
  std::vector<double> energy_mj;   // the counter at start, each mark, and stop; empty without one
};

// Samples a source on its own thread between start() and stop(); stop() also takes a last sample,
// so a pass shorter than the period still has two. Not restartable: one sampler per pass.
class TelemetrySampler {
 public:
  TelemetrySampler(TelemetrySource& source, double period_ms) : src_(source), period_(period_ms) {}
  ~TelemetrySampler();
  void start();
  void mark();  // reads the energy counter (a phase boundary); from the thread that called start()
  TelemetryTrace stop();

 private:
  void sample();  // under mu_
  void read_energy();
  TelemetrySource& src_;
  std::chrono::duration<double, std::milli> period_;
  std::chrono::steady_clock::time_point t0_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool has_energy_ = true;
  std::thread thread_;
  TelemetryTrace trace_;
};

// The telemetry of an engine's device: a source, or why there is none (a CPU device, no NVML).
struct DeviceTelemetry {
  std::unique_ptr<TelemetrySource> source;
  std::string reason;  // empty when source is set
};

}  // namespace gpubench
