#include "addon/engine_wrap.h"

#include "addon/async_job.h"
#include "addon/backend_factory.h"
#include "addon/convert.h"

namespace gpubench {

namespace {
struct Unit {};

// Calls a method body, turning a C++ gpubench::Error into a JS exception with its code.
template <typename F>
Napi::Value guarded(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw error_to_js(env, error_code_name(e.code), e.what());
  }
}

// Reads the object argument info[0] with from_js; a non-object is ERR_INVALID_ARGUMENT with the
// message given, and a C++ gpubench::Error from the reading becomes a JS exception with its code.
template <typename F>
auto object_arg(const Napi::CallbackInfo& info, const char* not_object, F&& from_js) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw error_to_js(env, "ERR_INVALID_ARGUMENT", not_object);
  decltype(from_js(info[0].As<Napi::Object>())) value;
  guarded(env, [&] {
    value = from_js(info[0].As<Napi::Object>());
    return env.Undefined();
  });
  return value;
}
}  // namespace

Napi::Function EngineWrap::Define(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {InstanceMethod("open", &EngineWrap::Open), InstanceMethod("runPoint", &EngineWrap::RunPoint),
                      InstanceMethod("submit", &EngineWrap::Submit), InstanceMethod("generate", &EngineWrap::Generate),
                      InstanceMethod("measurePeaks", &EngineWrap::MeasurePeaks), InstanceMethod("info", &EngineWrap::Info),
                      InstanceMethod("benchOp", &EngineWrap::BenchOp), InstanceMethod("gemmAlgos", &EngineWrap::GemmAlgos),
                      InstanceMethod("cancel", &EngineWrap::Cancel), InstanceMethod("close", &EngineWrap::Close)});
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  opts_ = object_arg(info, "Engine options must be an object", engine_options_from_js);
  worker_ = std::make_unique<Worker>();
}

EngineWrap::~EngineWrap() {
  // JS is done with the engine (collected, or its worker thread or process is tearing down): stop
  // the running job first, so the join below does not wait out a batch timeout.
  stopper()();
  // Engines not closed by JS are destroyed on their own thread, then the thread is joined.
  if (engine_) worker_->post([this] { engine_.reset(); });
  worker_->stop();
}

Engine& EngineWrap::engine() { return *engine_; }

void EngineWrap::require_open(Napi::Env env) const {
  if (closed_) throw error_to_js(env, "ERR_INVALID_ARGUMENT", "engine is closed");
  if (!opened_) throw error_to_js(env, "ERR_INVALID_ARGUMENT", "engine is not open: await open() first");
}

std::function<void()> EngineWrap::stopper() {
  return [this] {
    cancel_.store(true);
    scheduler_.cancel();
  };
}

Napi::Function EngineWrap::noop(Napi::Env env) {
  return Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
}

Napi::Value EngineWrap::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw error_to_js(env, "ERR_INVALID_ARGUMENT", "engine is closed");
  return run_async<EngineInfo>(
      env, *worker_, noop(env),
      [this](Napi::ThreadSafeFunction&) {
        if (!engine_) {
          const auto backends = [&](int64_t world) { return make_backends(opts_.device, opts_.cpu_threads, world); };
          engine_ = std::make_unique<Engine>(backends, opts_, scheduler_, cancel_);
        }
        return engine_->info();
      },
      [this](Napi::Env env, EngineInfo& i) -> Napi::Value {
        info_ = i;
        opened_ = true;
        return engine_info_to_js(env, i);
      },
      stopper());
}

Napi::Value EngineWrap::RunPoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_open(env);
  const PointOptions p = object_arg(info, "runPoint options must be an object", point_options_from_js);
  Napi::Function progress = info[1].IsFunction() ? info[1].As<Napi::Function>() : noop(env);
  // Requests queued for an earlier, failed point must not leak into this one; JS calls
  // runPoint before submitting this point's requests, so clearing here (on the JS thread) is safe.
  scheduler_.clear();
  cancel_.store(false);
  scheduler_.reset_cancel();
  return run_async<PointResult>(
      env, *worker_, progress,
      [this, p](Napi::ThreadSafeFunction& tsfn) {
        return engine().run_point(p, [&tsfn](const Progress& pr) {
          auto copy = std::make_shared<Progress>(pr);
          tsfn.NonBlockingCall([copy](Napi::Env env, Napi::Function cb) {
            if (!can_run_js(env)) return;
            // Throws when the callback throws (lib/bridge/engine.ts catches the caller's own throw
            // first); escaping here would terminate the process.
            try {
              Napi::Object o = Napi::Object::New(env);
              o.Set("phase", copy->phase);
              o.Set("step", (double)copy->step);
              o.Set("totalSteps", (double)copy->total_steps);
              cb.Call({o});
            } catch (const Napi::Error&) {
            }
          });
        });
      },
      [](Napi::Env env, PointResult& r) -> Napi::Value { return point_result_to_js(env, r); }, stopper());
}

Napi::Value EngineWrap::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_open(env);
  if (!info[0].IsObject()) throw error_to_js(env, "ERR_INVALID_ARGUMENT", "submit expects {id, inputIds}");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value ids = o.Get("inputIds");
  if (!ids.IsTypedArray() || ids.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw error_to_js(env, "ERR_INVALID_ARGUMENT", "inputIds must be an Int32Array");
  }
  Napi::Int32Array a = ids.As<Napi::Int32Array>();
  Request r;
  r.id = o.Get("id").IsNumber() ? o.Get("id").As<Napi::Number>().Int64Value() : 0;
  r.input_ids.assign(a.Data(), a.Data() + a.ElementLength());
  for (int32_t id : r.input_ids) {
    if (id < 0 || id >= opts_.spec.vocab_size) {
      throw error_to_js(env, "ERR_INVALID_ARGUMENT", "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                         std::to_string(opts_.spec.vocab_size) + ")");
    }
  }
  scheduler_.submit(std::move(r));
  return env.Undefined();
}

Napi::Value EngineWrap::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_open(env);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsNumber()) {
    throw error_to_js(env, "ERR_INVALID_ARGUMENT",
                      "generate expects (inputIds: Int32Array, steps: number, useGraphs?: boolean, "
                      "options?: {mtpDrafts, mtpAccept, moeRouting})");
  }
  Napi::Int32Array a = info[0].As<Napi::Int32Array>();
  std::vector<int32_t> prompt(a.Data(), a.Data() + a.ElementLength());
  int64_t steps = info[1].As<Napi::Number>().Int64Value();
  GenerateOptions o;
  guarded(env, [&] {
    o = generate_options_from_js(info[2], info[3]);
    return env.Undefined();
  });
  cancel_.store(false);
  return run_async<GenerateResult>(
      env, *worker_, noop(env),
      [this, prompt, steps, o](Napi::ThreadSafeFunction&) { return engine().generate(prompt, steps, o); },
      [](Napi::Env env, GenerateResult& g) -> Napi::Value { return generate_result_to_js(env, g); }, stopper());
}

Napi::Value EngineWrap::MeasurePeaks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_open(env);
  return run_async<Peaks>(
      env, *worker_, noop(env), [this](Napi::ThreadSafeFunction&) { return engine().peaks(); },
      [](Napi::Env env, Peaks& p) -> Napi::Value { return peaks_to_js(env, p); }, stopper());
}

Napi::Value EngineWrap::BenchOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_open(env);
  const OpBenchCase c = object_arg(info, "benchOp needs a case object", op_bench_case_from_js);
  return run_async<OpTiming>(
      env, *worker_, noop(env), [this, c](Napi::ThreadSafeFunction&) { return engine().bench_op(c); },
      [](Napi::Env env, OpTiming& t) -> Napi::Value { return op_timing_to_js(env, t); }, stopper());
}

// On the worker: the backend's plan cache belongs to the thread that runs the ops.
Napi::Value EngineWrap::GemmAlgos(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_open(env);
  return run_async<std::vector<GemmAlgo>>(
      env, *worker_, noop(env), [this](Napi::ThreadSafeFunction&) { return engine().gemm_algos(); },
      [](Napi::Env env, std::vector<GemmAlgo>& a) -> Napi::Value { return gemm_algos_to_js(env, a); }, stopper());
}

Napi::Value EngineWrap::Info(const Napi::CallbackInfo& info) {
  require_open(info.Env());
  return engine_info_to_js(info.Env(), info_);
}

Napi::Value EngineWrap::Cancel(const Napi::CallbackInfo& info) {
  cancel_.store(true);
  scheduler_.cancel();
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) {
    auto done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  closed_ = true;
  cancel_.store(true);
  scheduler_.cancel();
  return run_async<Unit>(
      env, *worker_, noop(env),
      [this](Napi::ThreadSafeFunction&) {
        engine_.reset();
        return Unit{};
      },
      [](Napi::Env env, Unit&) -> Napi::Value { return env.Undefined(); }, stopper());
}

}  // namespace gpubench
