// libFuzzer harness for the safetensors parser (native/core/safetensors.cc through from_bytes):
// built with clang -fsanitize=fuzzer,address,undefined by scripts/fuzz-safetensors.sh. The input
// buffer is an exact-size heap allocation, so AddressSanitizer catches any read past the file.
#include <cstdio>
#include <cstdlib>

#include "safetensors_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bad = gpubench::check_safetensors_bytes(data, size).bad;
  if (!bad.empty()) {
    std::fprintf(stderr, "safetensors property violated: %s\n", bad.c_str());
    std::abort();
  }
  return 0;
}
