// Standalone test of native/core/safetensors.{h,cc}: no framework, PASS/FAIL lines, exit 1 on failure.
// Build and run from the repository root:
//   g++ -std=c++17 -O1 -Inative test/native/safetensors_test.cc native/core/safetensors.cc native/base/json.cc -o /tmp/st_test && /tmp/st_test
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/safetensors.h"

using gpubench::Error;
using gpubench::ErrorCode;
using gpubench::SafetensorsSet;

static int g_failures = 0;
static int g_checks = 0;

static void check(bool ok, const std::string& what) {
  ++g_checks;
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  if (!ok) ++g_failures;
}

static std::string g_dir;

static std::string tmp(const std::string& name) { return g_dir + "/" + name; }

static void write_bytes(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) { std::perror(path.c_str()); std::exit(2); }
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

static std::string u64le(uint64_t x) {
  std::string s(8, '\0');
  std::memcpy(&s[0], &x, 8);  // the test, like the reader, assumes a little-endian host
  return s;
}

// A safetensors file from a JSON header and a data section. pad_to_8 pads the header with spaces.
static std::string st_file(std::string header, const std::string& data, bool pad_to_8 = true) {
  if (pad_to_8)
    while ((8 + header.size()) % 8) header += ' ';
  return u64le(header.size()) + header + data;
}

struct T {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

static std::string shape_json(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

// Header + data for a list of tensors, laid out back to back, with optional extra header text.
static std::string build(const std::vector<T>& ts, const std::string& metadata = "") {
  std::string header = "{";
  if (!metadata.empty()) header += "\"__metadata__\":" + metadata + ",";
  std::string data;
  for (size_t i = 0; i < ts.size(); ++i) {
    const T& t = ts[i];
    uint64_t b = data.size(), e = b + t.bytes.size();
    header += (i ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" +
              shape_json(t.shape) + ",\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(e) + "]}";
    data += t.bytes;
  }
  header += "}";
  return st_file(header, data);
}

static std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(&s[0], v.data(), s.size());
  return s;
}

static std::string u16_bytes(const std::vector<uint16_t>& v) {
  std::string s(v.size() * 2, '\0');
  std::memcpy(&s[0], v.data(), s.size());
  return s;
}

static uint16_t bf16_of(float f) {  // exact for the values used here (low 16 bits zero)
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return uint16_t(b >> 16);
}

static bool same_float(float a, float b) {  // bitwise-equal, or both nan
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

static bool same_all(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (!same_float(got[i], want[i])) {
      std::printf("     element %zu: got %.9g, want %.9g\n", i, got[i], want[i]);
      return false;
    }
  return true;
}

// Runs fn; expects Error with code Weights whose message contains every needle.
static void expect_error(const std::string& what, const std::function<void()>& fn,
                         const std::vector<std::string>& needles) {
  try {
    fn();
    check(false, what + " (no error thrown)");
  } catch (const Error& e) {
    bool ok = e.code == ErrorCode::Weights;
    std::string msg = e.what();
    for (const auto& n : needles) ok = ok && msg.find(n) != std::string::npos;
    ok = ok && msg.find('\n') == std::string::npos;
    check(ok, what + ": " + msg);
  } catch (const std::exception& e) {
    check(false, what + " (wrong exception type: " + e.what() + ")");
  }
}

static void test_f32_and_json() {
  std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f};
  // Unknown keys with values of every JSON type, escapes, a padded header: all must be skipped.
  std::string header =
      "{ \"__metadata__\" : {\"format\":\"pt\",\"note\":\"q\\\"uote\\\\ \\u00e9 \\ud83d\\ude00 \\/\\b\\f\\n\\r\\t\"},\n"
      "  \"w\\u00e9ird.weight\": {\"extra\": [1, -2.5e-3, 0, 1E+2, {\"x\": null, \"y\": [true, false, []]}, {}],"
      "   \"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24], \"more\": \"}\"},\n"
      "  \"scalar\": {\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]},\n"
      "  \"empty\": {\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[28,28]}\n"
      "}";
  std::string path = tmp("f32.safetensors");
  write_bytes(path, st_file(header, f32_bytes(a) + f32_bytes({42.0f}), /*pad_to_8=*/false));
  SafetensorsSet set(path);
  std::string weird = "w\xC3\xA9ird.weight";
  check(set.has(weird) && set.has("scalar") && set.has("empty") && !set.has("__metadata__"),
        "f32: names parsed (escaped name, metadata skipped)");
  check(set.names().size() == 3, "f32: three tensors");
  const auto& info = set.info(weird);
  check(info.dtype == "F32" && info.shape == std::vector<int64_t>{2, 3} && info.nbytes == 24 &&
            info.file == path && info.offset == 8 + (uint64_t(header.size())),
        "f32: info (dtype, shape, nbytes, file, absolute offset)");
  std::vector<float> got(6);
  set.read_f32(weird, {2, 3}, got.data());
  check(same_all(got, a), "f32: values read back");
  std::vector<float> block(2);
  set.read_f32_block(weird, {2, 3}, 1, 1, 1, 2, block.data());
  check(same_all(block, {a[4], a[5]}), "f32: a block of rows and columns (a rank's shard)");
  float s = 0;
  set.read_f32("scalar", {}, &s);
  check(s == 42.0f, "f32: scalar (shape [])");
  set.read_f32("empty", {0, 4}, nullptr);
  check(true, "f32: empty tensor");
  check(std::memcmp(set.raw("scalar"), f32_bytes({42.0f}).data(), 4) == 0, "f32: raw bytes");
}

static void test_bf16() {
  std::vector<float> want = {1.0f, -2.5f, 0.15625f, 3.0e38f, -1.0e-38f, INFINITY, -INFINITY, NAN, 0.0f, -0.0f};
  // Values with nonzero low bits are truncated to bf16 by bf16_of; compare against the truncation.
  std::vector<uint16_t> bits;
  for (float f : want) bits.push_back(bf16_of(f));
  for (size_t i = 0; i < want.size(); ++i) {
    uint32_t b = uint32_t(bits[i]) << 16;
    std::memcpy(&want[i], &b, 4);
  }
  std::string path = tmp("bf16.safetensors");
  write_bytes(path, build({{"model.embed_tokens.weight", "BF16", {5, 2}, u16_bytes(bits)}}));
  SafetensorsSet set(path);
  std::vector<float> got(10);
  set.read_f32("model.embed_tokens.weight", {5, 2}, got.data());
  check(same_all(got, want), "bf16: values read back (incl. inf, nan, -0, tiny)");
  check(got[0] == 1.0f && got[1] == -2.5f && got[2] == 0.15625f, "bf16: exact values");
}

static void test_f16() {
  struct C { uint16_t h; float f; const char* what; };
  const float inf = INFINITY;
  std::vector<C> cases = {
      {0x3C00, 1.0f, "1"},
      {0xC000, -2.0f, "-2"},
      {0x3800, 0.5f, "0.5"},
      {0x3555, 0.333251953125f, "1/3 rounded"},
      {0x7BFF, 65504.0f, "max normal"},
      {0x0400, std::ldexp(1.0f, -14), "min normal"},
      {0x0001, std::ldexp(1.0f, -24), "min subnormal"},
      {0x03FF, std::ldexp(1023.0f, -24), "max subnormal"},
      {0x8200, -std::ldexp(512.0f, -24), "negative subnormal"},
      {0x0000, 0.0f, "+0"},
      {0x8000, -0.0f, "-0"},
      {0x7C00, inf, "+inf"},
      {0xFC00, -inf, "-inf"},
      {0x7E00, NAN, "nan"},
      {0xFC01, NAN, "nan with payload and sign"},
  };
  std::vector<uint16_t> bits;
  std::vector<float> want;
  for (const C& c : cases) {
    bits.push_back(c.h);
    want.push_back(c.f);
    check(same_float(gpubench::f16_to_f32(c.h), c.f), std::string("f16_to_f32 ") + c.what);
  }
  // Every finite f16 must round-trip through float exactly: f16 -> f32 -> f16 by rounding.
  bool all_ok = true;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = gpubench::f16_to_f32(uint16_t(h));
    uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float ref = (e == 0) ? std::ldexp(float(m), -24)
              : (e == 31) ? (m ? NAN : inf)
                          : std::ldexp(float(m | 0x400), int(e) - 25);
    if (h & 0x8000) ref = -ref;
    if (!same_float(f, ref)) { all_ok = false; std::printf("     f16 0x%04x: got %.9g want %.9g\n", h, f, ref); break; }
  }
  check(all_ok, "f16_to_f32: all 65536 bit patterns against ldexp");

  std::string path = tmp("f16.safetensors");
  int64_t n = int64_t(bits.size());
  write_bytes(path, build({{"x", "F16", {n}, u16_bytes(bits)}}, "{\"format\":\"pt\"}"));
  SafetensorsSet set(path);
  std::vector<float> got(bits.size());
  set.read_f32("x", {n}, got.data());
  check(same_all(got, want), "f16: file values read back (subnormal, inf, nan)");
}

static void test_sharded() {
  std::string dir = tmp("sharded");
  mkdir(dir.c_str(), 0755);
  std::string f1 = dir + "/model-00001-of-00002.safetensors";
  std::string f2 = dir + "/model-00002-of-00002.safetensors";
  write_bytes(f1, build({{"a.weight", "F32", {2}, f32_bytes({1.0f, 2.0f})},
                         {"b.weight", "BF16", {1}, u16_bytes({bf16_of(-4.0f)})}}));
  write_bytes(f2, build({{"c.weight", "F16", {2}, u16_bytes({0x3C00, 0x0001})}}));
  write_bytes(dir + "/config.json", "{}");
  write_bytes(dir + "/model.safetensors.index.json", "{}");
  SafetensorsSet set(dir);
  auto names = set.names();
  check(names == std::vector<std::string>{"a.weight", "b.weight", "c.weight"}, "sharded: names from both shards");
  check(set.info("a.weight").file == f1 && set.info("c.weight").file == f2, "sharded: info().file per shard");
  float a[2], b, c[2];
  set.read_f32("a.weight", {2}, a);
  set.read_f32("b.weight", {1}, &b);
  set.read_f32("c.weight", {2}, c);
  check(a[0] == 1.0f && a[1] == 2.0f && b == -4.0f && c[0] == 1.0f && c[1] == std::ldexp(1.0f, -24),
        "sharded: values from both shards");
  SafetensorsSet set2(dir + "/");
  check(set2.has("c.weight"), "sharded: folder path with trailing slash");
}

static void test_errors() {
  const std::string good_f32 = f32_bytes({1, 2, 3, 4});

  expect_error("missing path", [] { SafetensorsSet s(tmp("nope.safetensors")); }, {"nope.safetensors"});

  std::string empty_dir = tmp("emptydir");
  mkdir(empty_dir.c_str(), 0755);
  write_bytes(empty_dir + "/config.json", "{}");
  expect_error("folder without .safetensors", [&] { SafetensorsSet s(empty_dir); }, {"emptydir", "no .safetensors"});

  write_bytes(tmp("short.safetensors"), "abc");
  expect_error("file shorter than 8 bytes", [] { SafetensorsSet s(tmp("short.safetensors")); },
               {"short.safetensors", "shorter than"});
  write_bytes(tmp("zero.safetensors"), "");
  expect_error("empty file", [] { SafetensorsSet s(tmp("zero.safetensors")); }, {"zero.safetensors"});

  write_bytes(tmp("hlen.safetensors"), u64le(1000) + "{}");
  expect_error("header length larger than the file", [] { SafetensorsSet s(tmp("hlen.safetensors")); },
               {"hlen.safetensors", "1000", "larger than the file"});
  write_bytes(tmp("hlen2.safetensors"), u64le(UINT64_MAX) + "{}");
  expect_error("header length 2^64-1", [] { SafetensorsSet s(tmp("hlen2.safetensors")); },
               {"hlen2.safetensors", "larger than the file"});

  const std::vector<std::pair<std::string, std::string>> bad_json = {
      {"badjson1", "{\"x\": {\"dtype\": \"F32\""},                  // unterminated
      {"badjson2", "{\"x\": [1, 2,]}"},                             // trailing comma
      {"badjson3", "{\"x\": tru}"},                                 // bad literal
      {"badjson4", "{\"x\": 01}"},                                  // leading zero
      {"badjson5", "{\"x\": \"\\q\"}"},                             // bad escape
      {"badjson6", "{} {}"},                                        // trailing characters
      {"badjson7", "{\"x\": \"\\ud83d\"}"},                         // unpaired surrogate
      {"badjson8", std::string(5000, '[') + std::string(5000, ']')},  // nested too deeply
      {"badjson9", "{\"x\": \"a\nb\"}"},                            // raw control character
  };
  for (const auto& bj : bad_json) {
    std::string p = tmp(bj.first + ".safetensors");
    write_bytes(p, st_file(bj.second, ""));
    expect_error("header not JSON (" + bj.first + ")", [p] { SafetensorsSet s(p); },
                 {bj.first + ".safetensors", "not valid JSON"});
  }
  write_bytes(tmp("notobj.safetensors"), st_file("[1,2]", ""));
  expect_error("header is an array", [] { SafetensorsSet s(tmp("notobj.safetensors")); },
               {"notobj.safetensors", "not a JSON object"});

  write_bytes(tmp("nodtype.safetensors"), st_file("{\"t.nodtype\":{\"shape\":[4],\"data_offsets\":[0,16]}}", good_f32));
  expect_error("missing dtype", [] { SafetensorsSet s(tmp("nodtype.safetensors")); },
               {"nodtype.safetensors", "t.nodtype", "dtype"});
  write_bytes(tmp("noshape.safetensors"), st_file("{\"t.noshape\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", good_f32));
  expect_error("missing shape", [] { SafetensorsSet s(tmp("noshape.safetensors")); },
               {"noshape.safetensors", "t.noshape", "shape"});
  write_bytes(tmp("nooffs.safetensors"), st_file("{\"t.nooffs\":{\"dtype\":\"F32\",\"shape\":[4]}}", good_f32));
  expect_error("missing data_offsets", [] { SafetensorsSet s(tmp("nooffs.safetensors")); },
               {"nooffs.safetensors", "t.nooffs", "data_offsets"});
  write_bytes(tmp("negshape.safetensors"),
              st_file("{\"t.neg\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", good_f32));
  expect_error("negative shape", [] { SafetensorsSet s(tmp("negshape.safetensors")); },
               {"negshape.safetensors", "t.neg", "shape"});
  write_bytes(tmp("revoffs.safetensors"),
              st_file("{\"t.rev\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", good_f32));
  expect_error("data_offsets end < begin", [] { SafetensorsSet s(tmp("revoffs.safetensors")); },
               {"revoffs.safetensors", "t.rev", "data_offsets"});

  // Truncated: a good file cut short.
  std::string full = build({{"t.first", "F32", {4}, good_f32}, {"t.second", "F32", {4}, good_f32}});
  write_bytes(tmp("trunc.safetensors"), full.substr(0, full.size() - 5));
  expect_error("truncated file", [] { SafetensorsSet s(tmp("trunc.safetensors")); },
               {"trunc.safetensors", "truncated: tensor 't.second' needs bytes [16,32) but the data section has 27"});

  write_bytes(tmp("nbytes.safetensors"),
              st_file("{\"t.nbytes\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,16]}}", good_f32));
  expect_error("nbytes != numel * dtype size", [] { SafetensorsSet s(tmp("nbytes.safetensors")); },
               {"nbytes.safetensors", "t.nbytes", "16 bytes", "needs 8"});
  write_bytes(tmp("huge.safetensors"),
              st_file("{\"t.huge\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,16]}}",
                      good_f32));
  expect_error("numel overflows", [] { SafetensorsSet s(tmp("huge.safetensors")); }, {"huge.safetensors", "t.huge"});

  write_bytes(tmp("dup1.safetensors"),
              st_file("{\"t.dup\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                      "\"t.dup\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", good_f32));
  expect_error("same name twice in one header", [] { SafetensorsSet s(tmp("dup1.safetensors")); },
               {"dup1.safetensors", "t.dup"});

  // Unsupported dtype: the file opens (other tensors stay usable); reading it fails.
  write_bytes(tmp("i32.safetensors"), build({{"t.ids", "I32", {4}, good_f32}, {"t.ok", "F32", {4}, good_f32}}));
  {
    SafetensorsSet s(tmp("i32.safetensors"));
    float buf[4];
    s.read_f32("t.ok", {4}, buf);
    check(buf[3] == 4.0f, "unsupported dtype: other tensors of the file still read");
    expect_error("unsupported dtype I32", [&] { s.read_f32("t.ids", {4}, buf); },
                 {"i32.safetensors", "t.ids", "unsupported dtype I32"});
  }
  write_bytes(tmp("f64.safetensors"), build({{"t.f64", "F64", {2}, good_f32}}));
  {
    SafetensorsSet s(tmp("f64.safetensors"));
    double buf[2];
    expect_error("unsupported dtype F64", [&] { s.read_f32("t.f64", {2}, reinterpret_cast<float*>(buf)); },
                 {"f64.safetensors", "t.f64", "F64"});
  }
  write_bytes(tmp("weird.safetensors"), build({{"t.weird", "Q4_K", {4}, good_f32}}));
  {
    SafetensorsSet s(tmp("weird.safetensors"));
    float buf[4];
    expect_error("unknown dtype", [&] { s.read_f32("t.weird", {4}, buf); }, {"weird.safetensors", "t.weird", "Q4_K"});
  }

  // The same tensor in two shards.
  std::string dup_dir = tmp("dupshards");
  mkdir(dup_dir.c_str(), 0755);
  write_bytes(dup_dir + "/a.safetensors", build({{"layers.0.w", "F32", {4}, good_f32}}));
  write_bytes(dup_dir + "/b.safetensors", build({{"x", "F32", {4}, good_f32}, {"layers.0.w", "F32", {4}, good_f32}}));
  expect_error("same tensor in two shards", [&] { SafetensorsSet s(dup_dir); },
               {"layers.0.w", "a.safetensors", "b.safetensors"});

  // Not found, wrong shape.
  std::string nf = tmp("nf.safetensors");
  write_bytes(nf, build({{"model.layers.0.self_attn.q_proj.weight", "F32", {2, 2}, good_f32},
                         {"model.layers.0.self_attn.k_proj.weight", "F32", {2, 2}, good_f32},
                         {"model.norm.weight", "F32", {4}, good_f32},
                         {"lm_head.weight", "F32", {4}, good_f32}}));
  SafetensorsSet s(nf);
  expect_error("tensor not found (info)", [&] { s.info("model.layers.0.self_attn.q_proj.bias"); },
               {"tensor 'model.layers.0.self_attn.q_proj.bias' not found in " + nf,
                "(4 tensors; e.g. model.layers.0.self_attn.q_proj.weight, "});
  float buf[4];
  expect_error("tensor not found (read_f32)", [&] { s.read_f32("missing.weight", {4}, buf); },
               {"missing.weight", "nf.safetensors"});
  expect_error("wrong shape", [&] { s.read_f32("model.layers.0.self_attn.q_proj.weight", {4}, buf); },
               {"nf.safetensors", "tensor 'model.layers.0.self_attn.q_proj.weight' has shape [2,2], expected [4]"});
  expect_error("wrong shape (transposed rank)", [&] { s.read_f32("model.norm.weight", {1, 4}, buf); },
               {"tensor 'model.norm.weight' has shape [4], expected [1,4]"});
  expect_error("a block outside the tensor", [&] { s.read_f32_block("model.norm.weight", {4}, 2, 3, 0, 1, buf); },
               {"tensor 'model.norm.weight' has no block of rows [2, 5) and columns [0, 1)"});
}

int main() {
  char templ[] = "/tmp/st_test_XXXXXX";
  if (!mkdtemp(templ)) { std::perror("mkdtemp"); return 2; }
  g_dir = templ;
  try {
    test_f32_and_json();
    test_bf16();
    test_f16();
    test_sharded();
    test_errors();
  } catch (const std::exception& e) {
    check(false, std::string("unexpected exception: ") + e.what());
  }
  std::string cmd = "rm -rf '" + g_dir + "'";
  if (std::system(cmd.c_str()) != 0) std::printf("(could not remove %s)\n", g_dir.c_str());
  std::printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
