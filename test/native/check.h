// PASS/FAIL reporting shared by the standalone C++ test programs (test/native/*_test.cc): each
// prints one line per check and exits nonzero when any failed (native.test.ts runs them).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "base/error.h"
#include "base/rng.h"

namespace gpubench_test {

// Outputs are filled with NaN before an op runs, so an element it fails to write fails the check.
const float kNaN = std::numeric_limits<float>::quiet_NaN();
inline int g_failures = 0;

// n values uniform in [-scale, scale), a deterministic function of (stream, i).
inline std::vector<float> random_vec(size_t n, uint64_t stream, float scale = 1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * gpubench::uniform_pm1(gpubench::hash3(7, stream, i));
  return v;
}

// A host vector seen as an f32 [rows, cols] tensor (the CPU backend's memory is host memory).
inline gpubench::Tensor t32(std::vector<float>& v, int64_t rows, int64_t cols) {
  return gpubench::Tensor{v.data(), gpubench::DType::F32, rows, cols};
}

inline void check(const std::string& name, bool ok, const std::string& detail = "") {
  std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : ": ",
              detail.c_str());
  if (!ok) ++g_failures;
}

// |got - want| <= tol * max(1, |want|) everywhere; NaN (an unwritten element) never passes.
inline void check_close(const std::string& name, const std::vector<float>& got,
                        const std::vector<double>& want, double tol = 1e-5) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= tol * std::max(1.0, std::fabs(want[i])))) {
      check(name, false, "element " + std::to_string(i) + " is " + std::to_string(got[i]) +
                             ", expected " + std::to_string(want[i]));
      return;
    }
  check(name, true);
}

// fn throws gpubench::Error with this code and a one-line message.
inline void check_throws(const std::string& name, gpubench::ErrorCode code, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const gpubench::Error& e) {
    check(name, e.code == code && std::string(e.what()).find('\n') == std::string::npos, e.what());
    return;
  }
  check(name, false, "no error thrown");
}

// The last line of every program, and its exit code.
inline int summary() {
  std::printf("%s: %d failure(s)\n", g_failures ? "FAIL" : "PASS", g_failures);
  return g_failures ? 1 : 0;
}

}  // namespace gpubench_test
