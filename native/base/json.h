// A small JSON reader for safetensors headers: correct for any JSON value (nesting is capped at
// 128 levels); errors are Error(Weights) naming the file and the byte.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gpubench {

struct JValue {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  std::string text;                 // String: decoded UTF-8; Number: the literal; Bool: "true"/"false"
  std::vector<JValue> items;        // Array
  std::vector<std::string> keys;    // Object, in order
  std::vector<JValue> values;       // Object, parallel to keys

  const JValue* get(const std::string& key) const {
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == key) return &values[i];
    return nullptr;
  }
};

JValue parse_json(std::string_view text, const std::string& file);

// A non-negative JSON integer (no sign, fraction or exponent) that fits in int64.
bool json_uint(const JValue& v, uint64_t* out);

}  // namespace gpubench
