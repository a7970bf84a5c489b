// Module entry: the Engine class, the compiled backends, the device list and the build's identity
// (with whether NCCL loads here).
#include <napi.h>

#include "addon/backend_factory.h"
#include "addon/convert.h"
#include "addon/engine_wrap.h"
#include "core/nccl_communicator.h"

// The commit this binary was built from: CMake writes addon/build_info.h (in the build tree) at every build
// (scripts/git-commit.mjs), node-gyp passes it as a define; a build outside a checkout has none.
#if __has_include("addon/build_info.h")
#include "addon/build_info.h"
#endif
#ifndef GPUBENCH_GIT_COMMIT
#define GPUBENCH_GIT_COMMIT "unknown"
#endif

namespace gpubench {

namespace {

Napi::Value Backends(const Napi::CallbackInfo& info) {
  auto names = compiled_backends();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set(i, names[i]);
  return a;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("commit", GPUBENCH_GIT_COMMIT);
  o.Set("backends", Backends(info));
  o.Set("nccl", nccl_status());
  return o;
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

// ncclUniqueIds(n): n NCCL unique ids in one Buffer of n * 128 bytes (a launch's rank 0 hands them
// to the other processes); a typed error where NCCL does not load.
Napi::Value NcclUniqueIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1) {
    throw error_to_js(env, error_code_name(ErrorCode::InvalidArgument), "ncclUniqueIds(n): n must be a positive integer");
  }
  try {
    const std::string ids = nccl_unique_ids(info[0].As<Napi::Number>().Int32Value());
    return Napi::Buffer<char>::Copy(env, ids.data(), ids.size());
  } catch (const Error& e) {
    throw error_to_js(env, error_code_name(e.code), e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", EngineWrap::Define(env));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("listDevices", Napi::Function::New(env, ListDevices));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("ncclUniqueIds", Napi::Function::New(env, NcclUniqueIds));
  return exports;
}

}  // namespace

NODE_API_MODULE(gpubench, Init)

}  // namespace gpubench
