#include "addon/convert.h"

#include <cmath>

namespace gpubench {

namespace {

Napi::Value field(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) fail(ErrorCode::InvalidArgument, std::string("missing field '") + name + "'");
  return v;
}

double number(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsNumber()) fail(ErrorCode::InvalidArgument, std::string("field '") + name + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t integer(const Napi::Object& o, const char* name) {
  double d = number(o, name);
  // Casting a double outside int64's range is undefined behaviour: refuse it first.
  if (std::floor(d) != d || std::fabs(d) >= 9223372036854775808.0)
    fail(ErrorCode::InvalidArgument, std::string("field '") + name + "' must be an integer within int64 range");
  return (int64_t)d;
}

int64_t integer_or(const Napi::Object& o, const char* name, int64_t fallback) {
  return o.Get(name).IsUndefined() ? fallback : integer(o, name);
}

bool boolean(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsBoolean()) fail(ErrorCode::InvalidArgument, std::string("field '") + name + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string string(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsString()) fail(ErrorCode::InvalidArgument, std::string("field '") + name + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::string bytes(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsBuffer()) fail(ErrorCode::InvalidArgument, std::string("field '") + name + "' must be a Buffer");
  auto b = v.As<Napi::Buffer<char>>();
  return std::string(b.Data(), b.Length());
}

Napi::Object object(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsObject()) fail(ErrorCode::InvalidArgument, std::string("field '") + name + "' must be an object");
  return v.As<Napi::Object>();
}

// { kind, s (zipf only), text }: the policy as lib/bridge/wire.ts sends it, parsed in TypeScript.
RoutingPolicy routing_from_js(const Napi::Object& o) {
  const std::string kind = string(o, "kind");
  return routing_policy(kind, kind == "zipf" ? number(o, "s") : 0.0, string(o, "text"));
}

ModelSpec spec_from_js(const Napi::Object& o) {
  ModelSpec s;
  s.model_type = string(o, "modelType");
  s.vocab_size = integer(o, "vocabSize");
  s.hidden_size = integer(o, "hiddenSize");
  s.intermediate_size = integer(o, "intermediateSize");
  s.num_layers = integer(o, "numLayers");
  s.num_heads = integer(o, "numHeads");
  s.num_kv_heads = integer(o, "numKvHeads");
  s.head_dim = integer(o, "headDim");
  s.rms_norm_eps = number(o, "rmsNormEps");
  s.tie_word_embeddings = boolean(o, "tieWordEmbeddings");
  s.attention_bias = boolean(o, "attentionBias");
  s.qk_norm = boolean(o, "qkNorm");
  s.max_position_embeddings = integer(o, "maxPositionEmbeddings");
  Napi::Object r = object(o, "rope");
  s.rope.theta = number(r, "theta");
  s.rope.type = string(r, "type");
  s.rope.factor = number(r, "factor");
  s.rope.low_freq_factor = number(r, "lowFreqFactor");
  s.rope.high_freq_factor = number(r, "highFreqFactor");
  s.rope.original_max_position = integer(r, "originalMaxPosition");
  s.rope.beta_fast = number(r, "betaFast");
  s.rope.beta_slow = number(r, "betaSlow");
  s.rope.mscale = number(r, "mscale");
  s.rope.mscale_all_dim = number(r, "mscaleAllDim");
  if (!o.Get("moe").IsUndefined() && !o.Get("moe").IsNull()) {
    Napi::Object m = object(o, "moe");
    s.moe.num_experts = integer(m, "numExperts");
    s.moe.top_k = integer(m, "topK");
    s.moe.expert_intermediate_size = integer(m, "expertIntermediateSize");
    s.moe.shared_intermediate_size = integer(m, "sharedIntermediateSize");
    s.moe.shared_expert_gate = boolean(m, "sharedExpertGate");
    s.moe.norm_topk_prob = boolean(m, "normTopkProb");
    s.moe.scoring = string(m, "scoring");
    s.moe.topk_method = string(m, "topkMethod");
    s.moe.n_group = integer(m, "nGroup");
    s.moe.topk_group = integer(m, "topkGroup");
    s.moe.routed_scaling_factor = number(m, "routedScalingFactor");
    Napi::Value layers = field(m, "layerIsMoe");
    if (!layers.IsArray()) fail(ErrorCode::InvalidArgument, "field 'layerIsMoe' must be an array of booleans");
    Napi::Array a = layers.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) s.moe.layer_is_moe.push_back(a.Get(i).ToBoolean().Value());
    if ((int64_t)s.moe.layer_is_moe.size() != s.num_layers) {
      fail(ErrorCode::InvalidArgument, "field 'layerIsMoe' must have numLayers entries");
    }
  }
  if (!o.Get("mla").IsUndefined() && !o.Get("mla").IsNull()) {
    Napi::Object m = object(o, "mla");
    s.mla.q_lora_rank = integer(m, "qLoraRank");
    s.mla.kv_lora_rank = integer(m, "kvLoraRank");
    s.mla.qk_nope_head_dim = integer(m, "qkNopeHeadDim");
    s.mla.qk_rope_head_dim = integer(m, "qkRopeHeadDim");
    s.mla.v_head_dim = integer(m, "vHeadDim");
  }
  s.mtp_layers = integer_or(o, "mtpLayers", 0);
  return s;
}

Napi::Array ops_to_js(Napi::Env env, const std::vector<OpTime>& ops) {
  Napi::Array a = Napi::Array::New(env, ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", ops[i].op);
    o.Set("layer", ops[i].layer);
    o.Set("ms", ops[i].ms);
    a.Set(i, o);
  }
  return a;
}

template <typename T>
Napi::Array numbers_to_js(Napi::Env env, const std::vector<T>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(i, Napi::Number::New(env, (double)v[i]));
  return a;
}

// Logit rows as Float32Arrays.
Napi::Array rows_to_js(Napi::Env env, const std::vector<std::vector<float>>& rows) {
  Napi::Array a = Napi::Array::New(env, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    Napi::Float32Array row = Napi::Float32Array::New(env, rows[i].size());
    std::copy(rows[i].begin(), rows[i].end(), row.Data());
    a.Set(i, row);
  }
  return a;
}

}  // namespace

EngineOptions engine_options_from_js(const Napi::Object& o) {
  EngineOptions e;
  e.spec = spec_from_js(object(o, "spec"));
  e.device = string(o, "device");
  e.cpu_threads = (int)integer_or(o, "threads", 0);
  if (!o.Get("parallel").IsUndefined()) {
    Napi::Object p = object(o, "parallel");
    e.parallel = Layout{integer_or(p, "tp", 1), integer_or(p, "dp", 1), integer_or(p, "ep", 1)};
    e.local.simulated = !p.Get("simulate").IsUndefined() && boolean(p, "simulate");
    if (!p.Get("process").IsUndefined()) {
      Napi::Object q = object(p, "process");
      ProcessRank& pr = e.local.process;
      pr.rank = integer(q, "rank");
      if (pr.rank < 0) fail(ErrorCode::InvalidArgument, "field 'rank' must be >= 0 (the process's rank of the layout)");
      pr.world = integer(q, "world");
      pr.ids = bytes(q, "ids");
    }
  }
  e.runner.seed = (uint64_t)integer(o, "seed");
  e.runner.kv_pool_tokens = integer(o, "kvPoolTokens");
  e.runner.max_batch = integer(o, "maxBatch");
  e.runner.max_tokens_per_step = integer(o, "maxTokensPerStep");
  e.runner.max_context = integer(o, "maxContext");
  e.runner.block_size = integer_or(o, "blockSize", 16);
  e.runner.max_drafts = integer_or(o, "maxDrafts", 0);
  if (!o.Get("weightsPath").IsUndefined()) e.runner.weights_path = string(o, "weightsPath");
  e.runner.nudge_weights = integer_or(o, "nudgeWeights", 0) != 0;
  if (!o.Get("mlaPrefill").IsUndefined()) {
    const std::string form = string(o, "mlaPrefill");
    if (form == "absorbed") e.runner.mla_prefill = MlaForm::Absorbed;
    else if (form == "decompressed") e.runner.mla_prefill = MlaForm::Decompressed;
    else fail(ErrorCode::InvalidArgument, "mlaPrefill '" + form + "' is not one of absorbed, decompressed");
  }
  return e;
}

PointOptions point_options_from_js(const Napi::Object& o) {
  PointOptions p;
  p.batch_size = integer(o, "batchSize");
  p.input_len = integer(o, "inputLen");
  p.output_len = integer(o, "outputLen");
  std::string mode = string(o, "mode");
  if (mode == "prefill") p.mode = Mode::Prefill;
  else if (mode == "decode") p.mode = Mode::Decode;
  else if (mode == "both") p.mode = Mode::Both;
  else fail(ErrorCode::InvalidArgument, "mode '" + mode + "' is not one of prefill, decode, both");
  p.batch_timeout_ms = number(o, "batchTimeoutMs");
  p.use_graphs = boolean(o, "useGraphs");
  std::string profile = string(o, "profile");
  if (profile != "none" && profile != "prefill" && profile != "decode" && profile != "both") {
    fail(ErrorCode::InvalidArgument, "profile '" + profile + "' is not one of none, prefill, decode, both");
  }
  p.profile_prefill = profile == "prefill" || profile == "both";
  p.profile_decode = profile == "decode" || profile == "both";
  p.profile_decode_steps = integer(o, "profileDecodeSteps");
  if (!o.Get("tracePrefix").IsUndefined()) p.trace_prefix = string(o, "tracePrefix");
  p.run_name = string(o, "runName");
  if (!o.Get("moeRouting").IsUndefined()) p.moe_routing = routing_from_js(object(o, "moeRouting"));
  MtpOptions mtp = mtp_options_from_js(o);
  p.mtp_drafts = mtp.drafts;
  p.mtp_accept = mtp.accept;
  return p;
}

MtpOptions mtp_options_from_js(const Napi::Value& value) {
  MtpOptions m;
  if (value.IsUndefined()) return m;
  if (!value.IsObject()) fail(ErrorCode::InvalidArgument, "options must be an object {mtpDrafts, mtpAccept, ...}");
  Napi::Object o = value.As<Napi::Object>();
  m.drafts = integer_or(o, "mtpDrafts", 0);
  Acceptance& a = m.accept;
  Napi::Value v = o.Get("mtpAccept");
  if (v.IsUndefined()) return m;
  if (v.IsString() && v.As<Napi::String>().Utf8Value() == "all") return m;
  if (v.IsNumber()) {
    a.kind = AcceptKind::Fixed;
    a.fixed = integer(o, "mtpAccept");
    return m;
  }
  if (v.IsObject() && v.As<Napi::Object>().Get("rate").IsNumber()) {
    a.kind = AcceptKind::Rate;
    a.rate = number(v.As<Napi::Object>(), "rate");
    return m;
  }
  fail(ErrorCode::InvalidArgument, "field 'mtpAccept' must be 'all', an integer or { rate }");
}

GenerateOptions generate_options_from_js(const Napi::Value& use_graphs, const Napi::Value& options) {
  GenerateOptions g;
  g.use_graphs = use_graphs.IsBoolean() && use_graphs.As<Napi::Boolean>().Value();
  const MtpOptions mtp = mtp_options_from_js(options);
  g.mtp_drafts = mtp.drafts;
  g.mtp_accept = mtp.accept;
  if (options.IsObject() && !options.As<Napi::Object>().Get("moeRouting").IsUndefined())
    g.moe_routing = routing_from_js(object(options.As<Napi::Object>(), "moeRouting"));
  return g;
}

namespace {

Napi::Value number_or_null(Napi::Env env, double v) { return std::isnan(v) ? env.Null() : Napi::Number::New(env, v); }

// Samples with the JSONL's field names (lib/views/read-jsonl.ts), which the result passes through.
Napi::Object telemetry_to_js(Napi::Env env, const TelemetryTrace& t) {
  Napi::Array samples = Napi::Array::New(env, t.samples.size());
  for (size_t i = 0; i < t.samples.size(); ++i) {
    const TelemetrySample& s = t.samples[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("t_ms", s.t_ms);
    o.Set("sm_clock_mhz", number_or_null(env, s.r.sm_clock_mhz));
    o.Set("mem_clock_mhz", number_or_null(env, s.r.mem_clock_mhz));
    o.Set("power_w", number_or_null(env, s.r.power_w));
    o.Set("temp_c", number_or_null(env, s.r.temp_c));
    o.Set("mem_used_bytes", number_or_null(env, s.r.mem_used_bytes));
    samples.Set(i, o);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("samples", samples);
  o.Set("reasons", (double)t.reasons);
  o.Set("energyMj", numbers_to_js(env, t.energy_mj));
  return o;
}

}  // namespace

// A string map as a plain object.
static Napi::Object strings_to_js(Napi::Env env, const std::map<std::string, std::string>& m) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [k, v] : m) o.Set(k, v);
  return o;
}

// An MLA form, or null where none ran (not an MLA model, or the phase did not run).
static Napi::Value form_or_null(Napi::Env env, const std::string& form) {
  return form.empty() ? env.Null() : Napi::String::New(env, form);
}

Napi::Object point_result_to_js(Napi::Env env, const PointResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("waitingMs", r.waiting_ms);
  o.Set("prefillMs", r.prefill_ms < 0 ? env.Null() : Napi::Number::New(env, r.prefill_ms));
  o.Set("decodeStepMs", numbers_to_js(env, r.decode_step_ms));
  o.Set("decodeContext", numbers_to_js(env, r.decode_context));
  o.Set("acceptedTokens", numbers_to_js(env, r.accepted_tokens));
  o.Set("firstRequestTokens", numbers_to_js(env, r.first_request_tokens));
  o.Set("usedGraphs", r.used_graphs);
  o.Set("profiledPrefill", ops_to_js(env, r.profiled_prefill));
  o.Set("profiledDecode", ops_to_js(env, r.profiled_decode));
  Napi::Array files = Napi::Array::New(env, r.trace_files.size());
  for (size_t i = 0; i < r.trace_files.size(); ++i) files.Set(i, r.trace_files[i]);
  o.Set("traceFiles", files);
  o.Set("routing", r.routing);
  o.Set("expertCounts", numbers_to_js(env, r.expert_counts));
  o.Set("telemetry", r.has_telemetry ? telemetry_to_js(env, r.telemetry) : env.Null());
  o.Set("telemetryReason", r.has_telemetry ? env.Null() : Napi::String::New(env, r.telemetry_reason));
  o.Set("kernelPaths", strings_to_js(env, r.kernel_paths));
  o.Set("mlaPrefillForm", form_or_null(env, r.mla_prefill_form));
  o.Set("mlaDecodeForm", form_or_null(env, r.mla_decode_form));
  return o;
}

Napi::Object generate_result_to_js(Napi::Env env, const GenerateResult& g) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("tokens", numbers_to_js(env, g.tokens));
  o.Set("logits", rows_to_js(env, g.logits));
  Napi::Array drafts = Napi::Array::New(env, g.drafts.size());
  Napi::Array draft_logits = Napi::Array::New(env, g.draft_logits.size());
  for (size_t i = 0; i < g.drafts.size(); ++i) {
    drafts.Set(i, numbers_to_js(env, g.drafts[i]));
    draft_logits.Set(i, rows_to_js(env, g.draft_logits[i]));
  }
  o.Set("drafts", drafts);
  o.Set("draftLogits", draft_logits);
  o.Set("accepted", numbers_to_js(env, g.accepted));
  o.Set("kernelPaths", strings_to_js(env, g.kernel_paths));
  o.Set("mlaPrefillForm", form_or_null(env, g.mla_prefill_form));
  return o;
}

Napi::Object peaks_to_js(Napi::Env env, const Peaks& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesPerS", p.bytes_per_s);
  o.Set("flopsPerS", p.flops_per_s);
  o.Set("copyBytes", (double)p.copy_bytes);
  o.Set("gemmM", (double)p.gemm_m);
  o.Set("gemmN", (double)p.gemm_n);
  o.Set("gemmK", (double)p.gemm_k);
  const auto calls = [&](const PeakCalls& c) {
    Napi::Object j = Napi::Object::New(env);
    j.Set("warmup", c.warmup);
    j.Set("count", c.count);
    j.Set("minMs", c.min_ms);
    j.Set("medianMs", c.median_ms);
    j.Set("maxMs", c.max_ms);
    return j;
  };
  o.Set("copyCalls", calls(p.copy));
  o.Set("gemmCalls", calls(p.gemm));
  if (p.bus.bytes_per_s > 0) {
    Napi::Object bus = Napi::Object::New(env);
    bus.Set("bytesPerS", p.bus.bytes_per_s);
    bus.Set("bytes", (double)p.bus.bytes);
    bus.Set("ranks", p.bus.ranks);
    bus.Set("calls", calls(p.bus.calls));
    o.Set("bus", bus);
  } else {
    o.Set("bus", env.Null());
  }
  return o;
}

OpBenchCase op_bench_case_from_js(const Napi::Object& o) {
  OpBenchCase c;
  c.op = string(o, "op");
  c.m = integer_or(o, "m", 0);
  c.n = integer_or(o, "n", 0);
  c.k = integer_or(o, "k", 0);
  c.batch = integer_or(o, "batch", 0);
  c.ctx = integer_or(o, "ctx", 0);
  c.tokens = integer_or(o, "tokens", 0);
  c.warmup = (int)integer(o, "warmup");
  c.calls = (int)integer(o, "calls");
  return c;
}

Napi::Object op_timing_to_js(Napi::Env env, const OpTiming& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("medianMs", t.median_ms);
  o.Set("minMs", t.min_ms);
  o.Set("maxMs", t.max_ms);
  o.Set("calls", t.calls);
  o.Set("l2Flushed", t.l2_flushed);
  o.Set("bytes", t.bytes);
  o.Set("flops", t.flops);
  return o;
}

Napi::Array gemm_algos_to_js(Napi::Env env, const std::vector<GemmAlgo>& algos) {
  Napi::Array a = Napi::Array::New(env, algos.size());
  for (size_t i = 0; i < algos.size(); ++i) {
    const GemmAlgo& g = algos[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("m", (double)g.m);
    o.Set("n", (double)g.n);
    o.Set("k", (double)g.k);
    o.Set("batch", (double)g.batch);
    o.Set("kernel", g.kernel);
    o.Set("algoId", g.algo_id);
    o.Set("tile", g.tile);
    o.Set("stages", g.stages);
    o.Set("splitK", g.split_k);
    o.Set("reduction", g.reduction);
    o.Set("swizzle", g.swizzle);
    o.Set("custom", g.custom);
    o.Set("innerShape", g.inner_shape);
    o.Set("clusterShape", g.cluster_shape);
    o.Set("candidate", g.candidate);
    o.Set("candidates", g.candidates);
    o.Set("firstUs", g.first_us);
    o.Set("chosenUs", g.chosen_us);
    a.Set((uint32_t)i, o);
  }
  return a;
}

Napi::Object engine_info_to_js(Napi::Env env, const EngineInfo& i) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", i.device);
  o.Set("deviceName", i.device_name);
  o.Set("dtype", i.dtype);
  o.Set("weightBytes", (double)i.weight_bytes);
  o.Set("kvPoolTokens", (double)i.kv_pool_tokens);
  o.Set("kvBytesPerToken", (double)i.kv_bytes_per_token);
  o.Set("blockSize", (double)i.block_size);
  o.Set("weightInitMs", i.weight_init_ms);
  o.Set("deviceInfo", device_info_to_js(env, i.device, i.device_info));
  Napi::Object parallel = Napi::Object::New(env);
  parallel.Set("tp", (double)i.parallel.tp);
  parallel.Set("dp", (double)i.parallel.dp);
  parallel.Set("ep", (double)i.parallel.ep);
  parallel.Set("simulate", i.simulated);
  if (i.process_rank >= 0) {
    Napi::Object process = Napi::Object::New(env);
    process.Set("rank", (double)i.process_rank);
    process.Set("world", (double)i.process_world);
    parallel.Set("process", process);
  }
  o.Set("parallel", parallel);
  return o;
}

Napi::Object device_info_to_js(Napi::Env env, const std::string& device, const DeviceInfo& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", device);
  o.Set("name", d.name);
  o.Set("totalBytes", (double)d.total_bytes);
  o.Set("freeBytes", (double)d.free_bytes);
  o.Set("computeCapability", d.cc_major ? std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor) : "");
  o.Set("driverVersion", d.driver_version);
  o.Set("runtimeVersion", d.runtime_version);
  o.Set("smClockMhz", d.sm_clock_mhz);
  o.Set("memClockMhz", d.mem_clock_mhz);
  o.Set("threads", d.threads);
  return o;
}

Napi::Error error_to_js(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", code);
  return e;
}

}  // namespace gpubench
