// Runs a job on the engine's worker thread and settles a JS promise with its result on the JS
// thread. Progress callbacks and the settlement go through one thread-safe function, so every
// progress event reaches JS before the promise settles.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

#include "addon/convert.h"
#include "base/error.h"
#include "engine/worker.h"

namespace gpubench {

template <typename R>
struct JobState {
  explicit JobState(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  R result{};
  bool ok = false;
  std::string code, message;
};

// work(tsfn) runs on the worker; it may post progress through the tsfn. to_js runs on the JS thread.
template <typename R>
Napi::Promise run_async(Napi::Env env, Worker& worker, Napi::Function callback,
                        std::function<R(Napi::ThreadSafeFunction&)> work,
                        std::function<Napi::Value(Napi::Env, R&)> to_js) {
  auto job = std::make_shared<JobState<R>>(env);
  auto tsfn = std::make_shared<Napi::ThreadSafeFunction>(
      Napi::ThreadSafeFunction::New(env, callback, "gpubench-job", 0, 1));
  worker.post([job, tsfn, work, to_js]() {
    try {
      job->result = work(*tsfn);
      job->ok = true;
    } catch (const Error& e) {
      job->code = error_code_name(e.code);
      job->message = e.what();
    } catch (const std::bad_alloc&) {
      job->code = error_code_name(ErrorCode::OutOfMemory);
      job->message = "host memory allocation failed";
    } catch (const std::exception& e) {
      job->code = error_code_name(ErrorCode::Internal);
      job->message = e.what();
    }
    tsfn->BlockingCall([job, to_js](Napi::Env env, Napi::Function) {
      if (!job->ok) {
        job->deferred.Reject(error_to_js(env, job->code, job->message).Value());
        return;
      }
      try {
        job->deferred.Resolve(to_js(env, job->result));
      } catch (const Napi::Error& e) {
        job->deferred.Reject(e.Value());
      }
    });
    tsfn->Release();
  });
  return job->deferred.Promise();
}

}  // namespace gpubench
