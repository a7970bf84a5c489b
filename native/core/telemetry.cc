#include "core/telemetry.h"

namespace gpubench {

TelemetrySampler::~TelemetrySampler() {
  // A pass that threw: the thread must end before the sampler does.
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
}

void TelemetrySampler::sample() {
  const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
  TelemetryReading r = src_.read();
  trace_.reasons |= r.clock_event_reasons;
  trace_.samples.push_back({t, r});
}

void TelemetrySampler::read_energy() {
  uint64_t mj = 0;
  // One missing reading makes every difference meaningless: then there is no energy at all.
  if (has_energy_ && src_.energy_mj(mj)) {
    trace_.energy_mj.push_back((double)mj);
  } else {
    has_energy_ = false;
    trace_.energy_mj.clear();
  }
}

void TelemetrySampler::start() {
  t0_ = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    read_energy();
    sample();
  }
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    // A period after each sample: a late wake-up (a busy host) never makes a burst of catch-up samples.
    while (!cv_.wait_for(lock, period_, [this] { return stopping_; })) sample();
  });
}

void TelemetrySampler::mark() {
  std::lock_guard<std::mutex> lock(mu_);
  read_energy();
}

TelemetryTrace TelemetrySampler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  sample();
  read_energy();
  return std::move(trace_);
}

}  // namespace gpubench
