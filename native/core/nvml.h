// NVML, loaded at run time (dlopen), so the addon has no link-time dependency on the driver's
// library and a machine without it still runs: open_nvml gives a TelemetrySource for the GPU with
// the given PCI bus id, or the reason there is none.
#pragma once
#include <string>

#include "core/telemetry.h"

namespace gpubench {

// library: the file dlopen looks for ("libnvidia-ml.so.1"; the tests pass a missing one).
DeviceTelemetry open_nvml(const std::string& pci_bus_id, const std::string& library = "libnvidia-ml.so.1");

}  // namespace gpubench
