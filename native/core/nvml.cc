#include "core/nvml.h"

#include <dlfcn.h>

#include <cmath>
#include <limits>

namespace gpubench {

namespace {

// The few NVML declarations used here (nvml.h is not needed to build): every function returns
// nvmlReturn_t, 0 on success; a device is an opaque handle.
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlMemory_t {
  unsigned long long total, free, used;
};
constexpr int NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2, NVML_TEMPERATURE_GPU = 0;

struct NvmlApi {
  nvmlReturn_t (*init)();
  nvmlReturn_t (*shutdown)();
  nvmlReturn_t (*by_pci_bus_id)(const char*, nvmlDevice_t*);
  nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned*);
  nvmlReturn_t (*power_mw)(nvmlDevice_t, unsigned*);
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned*);
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*);
  nvmlReturn_t (*reasons)(nvmlDevice_t, unsigned long long*);
  nvmlReturn_t (*energy_mj)(nvmlDevice_t, unsigned long long*);
};

const double kNaN = std::numeric_limits<double>::quiet_NaN();

class NvmlSource : public TelemetrySource {
 public:
  NvmlSource(void* lib, NvmlApi api, nvmlDevice_t dev) : lib_(lib), api_(api), dev_(dev) {}
  ~NvmlSource() override {
    api_.shutdown();
    dlclose(lib_);
  }

  TelemetryReading read() override {
    unsigned v = 0;
    nvmlMemory_t mem{};
    unsigned long long reasons = 0;
    TelemetryReading r;
    r.sm_clock_mhz = api_.clock(dev_, NVML_CLOCK_SM, &v) == 0 ? v : kNaN;
    r.mem_clock_mhz = api_.clock(dev_, NVML_CLOCK_MEM, &v) == 0 ? v : kNaN;
    r.power_w = api_.power_mw(dev_, &v) == 0 ? v / 1000.0 : kNaN;
    r.temp_c = api_.temperature(dev_, NVML_TEMPERATURE_GPU, &v) == 0 ? v : kNaN;
    r.mem_used_bytes = api_.memory(dev_, &mem) == 0 ? (double)mem.used : kNaN;
    r.clock_event_reasons = api_.reasons && api_.reasons(dev_, &reasons) == 0 ? reasons : 0;
    return r;
  }

  bool energy_mj(uint64_t& mj) override {
    unsigned long long e = 0;
    if (!api_.energy_mj || api_.energy_mj(dev_, &e) != 0) return false;
    mj = e;
    return true;
  }

 private:
  void* lib_;
  NvmlApi api_;
  nvmlDevice_t dev_;
};

template <typename F>
bool load(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  return fn != nullptr;
}

}  // namespace

DeviceTelemetry open_nvml(const std::string& pci_bus_id, const std::string& library) {
  DeviceTelemetry t;
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    t.reason = library + " not found";
    return t;
  }
  NvmlApi api{};
  const bool ok = load(lib, "nvmlInit_v2", api.init) && load(lib, "nvmlShutdown", api.shutdown) &&
                  load(lib, "nvmlDeviceGetHandleByPciBusId_v2", api.by_pci_bus_id) &&
                  load(lib, "nvmlDeviceGetClockInfo", api.clock) && load(lib, "nvmlDeviceGetPowerUsage", api.power_mw) &&
                  load(lib, "nvmlDeviceGetTemperature", api.temperature) &&
                  load(lib, "nvmlDeviceGetMemoryInfo", api.memory);
  if (!ok) {
    dlclose(lib);
    t.reason = library + " lacks an NVML function this needs";
    return t;
  }
  // Optional: the reasons' newer name (driver 535+), else the older one; the energy counter (Volta+).
  if (!load(lib, "nvmlDeviceGetCurrentClocksEventReasons", api.reasons)) {
    load(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", api.reasons);
  }
  load(lib, "nvmlDeviceGetTotalEnergyConsumption", api.energy_mj);
  if (int e = api.init(); e != 0) {
    dlclose(lib);
    t.reason = "nvmlInit failed (NVML error " + std::to_string(e) + ")";
    return t;
  }
  nvmlDevice_t dev = nullptr;
  if (int e = api.by_pci_bus_id(pci_bus_id.c_str(), &dev); e != 0) {
    api.shutdown();
    dlclose(lib);
    t.reason = "NVML has no device at PCI bus id " + pci_bus_id + " (NVML error " + std::to_string(e) + ")";
    return t;
  }
  t.source = std::make_unique<NvmlSource>(lib, api, dev);
  return t;
}

}  // namespace gpubench
