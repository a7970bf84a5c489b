// Conversions between JavaScript values and the engine's C++ structs (camelCase names, see
// lib/bridge/native.ts), and C++ errors into JS Errors with a stable `code`.
#pragma once
#include <napi.h>

#include "base/error.h"
#include "engine/engine.h"

namespace gpubench {

EngineOptions engine_options_from_js(const Napi::Object& o);
PointOptions point_options_from_js(const Napi::Object& o);
// {mtpDrafts, mtpAccept: 'all' | N | {rate}} of point options or of generate()'s last argument;
// absent fields: MTP off, every draft accepted.
struct MtpOptions {
  int64_t drafts = 0;
  Acceptance accept;
};
MtpOptions mtp_options_from_js(const Napi::Value& v);
// generate()'s useGraphs and its options object {mtpDrafts, mtpAccept, moeRouting}.
GenerateOptions generate_options_from_js(const Napi::Value& use_graphs, const Napi::Value& options);

Napi::Object point_result_to_js(Napi::Env env, const PointResult& r);
Napi::Object generate_result_to_js(Napi::Env env, const GenerateResult& g);
Napi::Object peaks_to_js(Napi::Env env, const Peaks& p);
// benchOp's case {op, m, n, k, batch, ctx, tokens, warmup, calls} and its timing.
OpBenchCase op_bench_case_from_js(const Napi::Object& o);
Napi::Object op_timing_to_js(Napi::Env env, const OpTiming& t);
Napi::Array gemm_algos_to_js(Napi::Env env, const std::vector<GemmAlgo>& algos);
Napi::Object engine_info_to_js(Napi::Env env, const EngineInfo& i);
Napi::Object device_info_to_js(Napi::Env env, const std::string& device, const DeviceInfo& d);

Napi::Error error_to_js(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace gpubench
