// Standalone test of native/core/telemetry.{h,cc} (the sampler, against a fake source) and of
// native/core/nvml.cc's reason when the library cannot be loaded. PASS/FAIL lines, exit 1 on failure.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "core/nvml.h"
#include "core/telemetry.h"

using namespace gpubench;

static int g_failures = 0;

static void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  if (!ok) ++g_failures;
}

// Counts its reads: clocks rise by one per read, throttle bits appear on the third read, and the
// energy counter advances 1000 mJ per call (or is missing after `energy_calls` calls).
class FakeSource : public TelemetrySource {
 public:
  int energy_calls_allowed = 1000;
  std::atomic<int> reads{0};
  int energy_calls = 0;
  TelemetryReading read() override {
    const int n = reads++;
    return {1000.0 + n, 2619.0, 300.5, 50.0, 1e9, n == 2 ? 0x40ull : 0x1ull};
  }
  bool energy_mj(uint64_t& mj) override {
    if (energy_calls >= energy_calls_allowed) return false;
    mj = 5000 + 1000 * (uint64_t)energy_calls++;
    return true;
  }
};

int main() {
  {
    FakeSource src;
    TelemetrySampler s(src, 5);
    s.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    s.mark();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    TelemetryTrace t = s.stop();
    const size_t n = t.samples.size();
    // 60 ms at 5 ms: ~12 periodic samples + start + stop; a loaded machine may take fewer.
    check(n >= 4 && n <= 16, "samples over 60 ms at a 5 ms period: " + std::to_string(n));
    check(n == (size_t)src.reads.load(), "one sample per source read");
    bool rising = true;
    for (size_t i = 1; i < n; ++i) rising = rising && t.samples[i].t_ms >= t.samples[i - 1].t_ms;
    check(t.samples[0].t_ms < 1 && rising, "t_ms starts at 0 and never goes back");
    check(t.samples.back().t_ms >= 55, "the last sample is taken at stop: " + std::to_string(t.samples.back().t_ms));
    check(t.samples[1].r.sm_clock_mhz == 1001 && t.samples[0].r.power_w == 300.5, "readings kept as read");
    check(t.reasons == 0x41, "reason bits of every sample OR'ed");
    check(t.energy_mj.size() == 3 && t.energy_mj[0] == 5000 && t.energy_mj[1] == 6000 && t.energy_mj[2] == 7000,
          "energy counter read at start, mark and stop");
  }
  {
    FakeSource src;
    src.energy_calls_allowed = 2;  // fails at stop
    TelemetrySampler s(src, 5);
    s.start();
    s.mark();
    TelemetryTrace t = s.stop();
    check(t.energy_mj.empty(), "a missing energy reading leaves no energy at all");
    check(t.samples.size() >= 2, "a pass shorter than the period still has two samples");
  }
  {
    FakeSource src;
    auto* s = new TelemetrySampler(src, 1);
    s->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    delete s;  // a pass that threw: the destructor stops the thread
    const int after = src.reads.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    check(after >= 2 && src.reads.load() == after, "destroyed without stop(): sampled, then stopped");
  }
  {
    DeviceTelemetry t = open_nvml("0000:00:00.0", "libnvidia-ml-missing.so.1");
    check(!t.source && t.reason == "libnvidia-ml-missing.so.1 not found", "a missing library is the reason: " + t.reason);
  }
  std::printf("%s\n", g_failures ? "FAILED" : "ALL PASSED");
  return g_failures ? 1 : 0;
}
