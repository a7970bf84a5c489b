// Backend selection from a device string: "cpu", "cuda" (= cuda:0), "cuda:N".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace gpubench {

std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads);
// Backends compiled into this build.
std::vector<std::string> compiled_backends();
// Every device this build can run on: "cpu" first, then each CUDA device.
std::vector<std::pair<std::string, DeviceInfo>> list_devices();

}  // namespace gpubench
