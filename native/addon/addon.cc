// Module entry: the Engine class, the compiled backends and the device list.
#include <napi.h>

#include "addon/backend_factory.h"
#include "addon/convert.h"
#include "addon/engine_wrap.h"

namespace gpubench {

namespace {

Napi::Value Backends(const Napi::CallbackInfo& info) {
  auto names = compiled_backends();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set(i, names[i]);
  return a;
}

Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    auto devices = list_devices();
    Napi::Array a = Napi::Array::New(env, devices.size());
    for (size_t i = 0; i < devices.size(); ++i) a.Set(i, device_info_to_js(env, devices[i].first, devices[i].second));
    return a;
  } catch (const Error& e) {
    throw error_to_js(env, error_code_name(e.code), e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", EngineWrap::Define(env));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("listDevices", Napi::Function::New(env, ListDevices));
  return exports;
}

}  // namespace

NODE_API_MODULE(gpubench, Init)

}  // namespace gpubench
