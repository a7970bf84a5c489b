// The property every input to the safetensors parser must have, shared by the libFuzzer harness and
// the corpus replay test: the bytes either load, and then every tensor lies inside them and reads
// back, or fail with a one-line Error(Weights). Anything else (another exception type, a crash, a
// sanitizer report) is a bug.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/safetensors.h"

namespace gpubench {

struct SafetensorsCheck {
  bool loaded = false;  // the bytes parsed as a safetensors file
  std::string bad;      // empty when the input behaved; otherwise what went wrong
};

inline std::string weights_error_problem(const Error& e) {
  const std::string m = e.what();
  if (e.code != ErrorCode::Weights) return std::string("error code ") + error_code_name(e.code) + ": " + m;
  if (m.empty()) return "empty error message";
  if (m.find_first_of("\n\r") != std::string::npos) return "multi-line error message: " + m;
  return "";
}

inline SafetensorsCheck check_safetensors_bytes(const uint8_t* data, size_t size) {
  SafetensorsCheck r;
  std::unique_ptr<SafetensorsSet> set;
  try {
    set = SafetensorsSet::from_bytes(data, size, "input.safetensors");
  } catch (const Error& e) {
    r.bad = weights_error_problem(e);
    return r;
  }
  r.loaded = true;
  for (const std::string& name : set->names()) {
    const SafetensorInfo& info = set->info(name);
    if (info.offset > size || info.nbytes > size - info.offset) {
      r.bad = "tensor '" + name + "' lies outside the input";
      return r;
    }
    if (set->raw(name) != data + info.offset) {
      r.bad = "tensor '" + name + "': raw() does not point at its offset";
      return r;
    }
    // Readable dtypes were checked against the shape, so this allocation is bounded by the input size.
    const uint64_t esize = info.dtype == "F32" ? 4 : (info.dtype == "BF16" || info.dtype == "F16") ? 2 : 0;
    std::vector<float> dst(esize ? size_t(info.nbytes / esize) : 0);
    try {
      set->read_f32(name, info.shape, dst.data());
      if (esize == 0) r.bad = "tensor '" + name + "' of dtype " + info.dtype + " read as f32";
    } catch (const Error& e) {
      r.bad = esize != 0 ? "readable tensor '" + name + "' failed to read: " + e.what() : weights_error_problem(e);
    }
    if (!r.bad.empty()) return r;
  }
  return r;
}

}  // namespace gpubench
