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

// Until the sampler thread has read `n` times (or 5 s, after which the checks fail).
static void wait_for_reads(FakeSource& src, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (src.reads.load() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int main() {
  {
    FakeSource src;
    TelemetrySampler s(src, 5);
    s.start();
    // Waits for the sampler's own reads (a loaded host may be slow), then marks and waits again.
    wait_for_reads(src, 6);
    s.mark();
    wait_for_reads(src, 12);
    TelemetryTrace t = s.stop();
    const size_t n = t.samples.size();
    check(n >= 13 && n == (size_t)src.reads.load(), "one sample per source read, the last at stop: " + std::to_string(n));
    bool rising = true;
    for (size_t i = 1; i < n; ++i) rising = rising && t.samples[i].t_ms >= t.samples[i - 1].t_ms;
    check(t.samples[0].t_ms < 1 && rising, "t_ms starts at 0 and never goes back");
    // At most one sample per period, plus the ones at start and stop.
    check((double)n <= t.samples.back().t_ms / 5 + 2, "no more samples than periods: " + std::to_string(n) + " in " +
                                                           std::to_string(t.samples.back().t_ms) + " ms");
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
    wait_for_reads(src, 3);
    delete s;  // a pass that threw: the destructor stops the thread
    const int after = src.reads.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    check(after >= 3 && src.reads.load() == after, "destroyed without stop(): sampled, then stopped");
  }
  {
    DeviceTelemetry t = open_nvml("0000:00:00.0", "libnvidia-ml-missing.so.1");
    check(!t.source && t.reason == "libnvidia-ml-missing.so.1 not found", "a missing library is the reason: " + t.reason);
  }
  std::printf("%s\n", g_failures ? "FAILED" : "ALL PASSED");
  return g_failures ? 1 : 0;
}
