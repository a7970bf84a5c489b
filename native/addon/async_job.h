// Runs a job on the engine's worker thread and settles a JS promise with its result on the JS
// thread. Progress callbacks and the settlement go through one thread-safe function, so every
// progress event reaches JS before the promise settles.
#pragma once
#include <napi.h>

#include <chrono>
#include <functional>
#include <future>
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

// False once the environment can no longer run JS (a worker thread being terminated still spins
// its loop, so queued callbacks run): node-addon-api would turn the first failing call into a
// fatal error, so the callbacks ask first. Setting a property is refused exactly then.
inline bool can_run_js(napi_env env) {
  napi_value object, value;
  if (napi_create_object(env, &object) != napi_ok || napi_get_undefined(env, &value) != napi_ok) return false;
  return napi_set_named_property(env, object, "probe", value) == napi_ok;
}

// When the JS environment tears down with the job unsettled (its worker thread terminated, its
// process exiting), Node frees the job's thread-safe function while the engine's thread may still
// use it. This env cleanup hook, added after the function (so it runs before the function's own),
// cancels the job and waits until the engine's thread has released the function.
struct JobTeardown {
  std::promise<void> released_promise;
  std::shared_future<void> released = released_promise.get_future().share();
  Napi::Env::CleanupHook<std::function<void()>> hook;
  bool hook_ran = false;
};

// work(tsfn) runs on the worker; it may post progress through the tsfn. to_js runs on the JS thread.
// cancel stops the job between steps; it is called only while the job has not released the tsfn.
template <typename R>
Napi::Promise run_async(Napi::Env env, Worker& worker, Napi::Function callback,
                        std::function<R(Napi::ThreadSafeFunction&)> work,
                        std::function<Napi::Value(Napi::Env, R&)> to_js, std::function<void()> cancel) {
  auto job = std::make_shared<JobState<R>>(env);
  auto tsfn = std::make_shared<Napi::ThreadSafeFunction>(
      Napi::ThreadSafeFunction::New(env, callback, "gpubench-job", 0, 1));
  auto teardown = std::make_shared<JobTeardown>();
  teardown->hook = env.AddCleanupHook(std::function<void()>([teardown, cancel] {
    teardown->hook_ran = true;
    if (teardown->released.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return;
    cancel();
    teardown->released.wait();
  }));
  worker.post([job, tsfn, work, to_js, teardown]() {
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
    tsfn->BlockingCall([job, to_js, teardown](Napi::Env env, Napi::Function) {
      if (!teardown->hook_ran) teardown->hook.Remove(env);
      if (!can_run_js(env)) return;
      try {
        if (!job->ok) {
          job->deferred.Reject(error_to_js(env, job->code, job->message).Value());
          return;
        }
        try {
          job->deferred.Resolve(to_js(env, job->result));
        } catch (const Napi::Error& e) {
          job->deferred.Reject(e.Value());
        }
      } catch (const Napi::Error&) {
        // JS can no longer run (the worker thread or process that owns the promise is tearing
        // down): nobody is left to settle it for, and a throw here would terminate the process.
      }
    });
    tsfn->Release();
    teardown->released_promise.set_value();
  });
  return job->deferred.Promise();
}

}  // namespace gpubench
