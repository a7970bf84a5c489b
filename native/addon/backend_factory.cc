#include "addon/backend_factory.h"

#include <algorithm>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "base/error.h"
#ifdef GPUBENCH_WITH_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace gpubench {

namespace {
// "cuda" -> 0, "cuda:3" -> 3, anything else -> -1.
int cuda_index(const std::string& device) {
  if (device == "cuda") return 0;
  if (device.rfind("cuda:", 0) != 0 || device.size() == 5) return -1;
  for (size_t i = 5; i < device.size(); ++i) {
    if (device[i] < '0' || device[i] > '9') return -1;
  }
  return std::stoi(device.substr(5));
}
}  // namespace

std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads) {
  if (device == "cpu") return make_cpu_backend(cpu_threads);
  int index = cuda_index(device);
  if (index < 0) fail(ErrorCode::InvalidArgument, "unknown device '" + device + "' (allowed: cpu, cuda, cuda:N)");
#ifdef GPUBENCH_WITH_CUDA
  int count = cuda_device_count();
  if (index >= count) {
    fail(ErrorCode::InvalidArgument, "device '" + device + "' does not exist: " + std::to_string(count) + " CUDA device(s) found");
  }
  return make_cuda_backend(index);
#else
  fail(ErrorCode::InvalidArgument, "device '" + device + "': this build of gpubench has no CUDA backend (built without nvcc and cuBLASLt)");
#endif
}

std::vector<std::unique_ptr<Backend>> make_backends(const std::string& device, int cpu_threads, int64_t world) {
  std::vector<std::unique_ptr<Backend>> out;
  if (world == 1) {
    out.push_back(make_backend(device, cpu_threads));
    return out;
  }
  if (device == "cpu") {
    const int total = cpu_threads > 0 ? cpu_threads : (int)std::max(1u, std::thread::hardware_concurrency());
    for (int64_t r = 0; r < world; ++r) out.push_back(make_cpu_backend(std::max(1, total / (int)world)));
    return out;
  }
  const int first = cuda_index(device);
  if (first < 0) make_backend(device, cpu_threads);  // throws its one-line error
#ifdef GPUBENCH_WITH_CUDA
  const int count = cuda_device_count();
  if (first + world > count) {
    fail(ErrorCode::InvalidArgument, std::to_string(world) + " ranks from " + device + " need devices cuda:" +
                                         std::to_string(first) + " to cuda:" + std::to_string(first + world - 1) + ": " +
                                         std::to_string(count) + " CUDA device(s) found");
  }
  for (int64_t r = 0; r < world; ++r) out.push_back(make_cuda_backend(first + (int)r));
  return out;
#else
  make_backend(device, cpu_threads);  // throws: no CUDA backend in this build
  return out;
#endif
}

std::vector<std::string> compiled_backends() {
#ifdef GPUBENCH_WITH_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

std::vector<std::pair<std::string, DeviceInfo>> list_devices() {
  std::vector<std::pair<std::string, DeviceInfo>> out;
  out.emplace_back("cpu", make_cpu_backend(0)->device_info());  // all cores: what a run uses by default
#ifdef GPUBENCH_WITH_CUDA
  int count = cuda_device_count();
  for (int i = 0; i < count; ++i) out.emplace_back("cuda:" + std::to_string(i), cuda_device_info(i));
#endif
  return out;
}

}  // namespace gpubench
