// The JS class `Engine` (lib/bridge/native.ts NativeEngine): a thin wrapper that owns the worker thread,
// the scheduler and the cancel flag, and posts every engine call to the worker.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>

#include "engine/engine.h"
#include "engine/scheduler.h"
#include "engine/worker.h"

namespace gpubench {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

 private:
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value RunPoint(const Napi::CallbackInfo& info);
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value MeasurePeaks(const Napi::CallbackInfo& info);
  Napi::Value BenchOp(const Napi::CallbackInfo& info);
  Napi::Value GemmAlgos(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Engine& engine();  // worker thread only
  void require_open(Napi::Env env) const;
  Napi::Function noop(Napi::Env env);
  std::function<void()> stopper();  // cancels the running job (any thread)

  EngineOptions opts_;
  BatchScheduler scheduler_;
  std::atomic<bool> cancel_{false};
  std::unique_ptr<Engine> engine_;  // created and destroyed on the worker
  EngineInfo info_;                 // set on the JS thread once open() resolves
  bool opened_ = false, closed_ = false;
  std::unique_ptr<Worker> worker_;  // declared last: joined before the members above go
};

}  // namespace gpubench
