// Backend selection from a device string: "cpu", "cuda" (= cuda:0), "cuda:N"; one backend per rank
// of a parallel layout.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace gpubench {

std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads);
// `world` backends: on the CPU each with its share of cpu_threads (0: every core), at least one;
// from cuda:N, rank r gets device N + r (a one-line error where there are fewer devices).
std::vector<std::unique_ptr<Backend>> make_backends(const std::string& device, int cpu_threads, int64_t world);
// Backends compiled into this build.
std::vector<std::string> compiled_backends();
// Every device this build can run on: "cpu" first, then each CUDA device.
std::vector<std::pair<std::string, DeviceInfo>> list_devices();

}  // namespace gpubench
