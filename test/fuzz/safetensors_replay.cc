// Replays every file of the folders or files given on the command line (the fuzz corpus: inputs
// written for each malformation and those the fuzzer found; the golden fixtures) through the
// safetensors property check. A file named loads_* or model.safetensors must load; every other file
// must be refused with a one-line Error(Weights). PASS/FAIL per file, exit 1 on any failure. Built
// with AddressSanitizer and UBSan where the compiler has them.
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "safetensors_check.h"

int main(int argc, char** argv) {
  int failures = 0, files = 0;
  for (int a = 1; a < argc; ++a) {
    std::vector<std::string> names;
    if (DIR* dir = opendir(argv[a])) {
      while (dirent* de = readdir(dir))
        if (de->d_name[0] != '.') names.push_back(std::string(argv[a]) + "/" + de->d_name);
      closedir(dir);
    } else {
      names.push_back(argv[a]);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& path : names) {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        std::printf("FAIL %s: cannot read\n", path.c_str());
        ++failures;
        continue;
      }
      // An exact-size heap copy, so a sanitizer sees any read past the end.
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const gpubench::SafetensorsCheck c = gpubench::check_safetensors_bytes(bytes.data(), bytes.size());
      const std::string base = path.substr(path.find_last_of('/') + 1);
      const bool must_load = base.rfind("loads_", 0) == 0 || base == "model.safetensors";
      std::string bad = c.bad;
      if (bad.empty() && c.loaded != must_load) bad = must_load ? "refused a valid file" : "loaded a malformed file";
      ++files;
      if (!bad.empty()) ++failures;
      std::printf("%s %s%s%s\n", bad.empty() ? "PASS" : "FAIL", path.c_str(), bad.empty() ? "" : ": ", bad.c_str());
    }
  }
  std::printf("%d files, %d failures\n", files, failures);
  return failures == 0 && files > 0 ? 0 : 1;
}
