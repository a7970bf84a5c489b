#include "base/json.h"

#include <cstring>

#include "base/error.h"

namespace gpubench {

namespace {

[[noreturn]] void weights_error(const std::string& msg) { fail(ErrorCode::Weights, msg); }

class JsonParser {
 public:
  JsonParser(std::string_view s, const std::string& file) : s_(s), file_(file) {}

  JValue parse_document() {
    JValue v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) error("unexpected trailing characters");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 128;
  std::string_view s_;
  const std::string& file_;
  size_t pos_ = 0;

  [[noreturn]] void error(const std::string& what) const {
    weights_error(file_ + ": header is not valid JSON: " + what + " at byte " + std::to_string(pos_));
  }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  char peek() {
    if (pos_ >= s_.size()) error("unexpected end of header");
    return s_[pos_];
  }

  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }

  JValue parse_value(int depth) {
    if (depth > kMaxDepth) error("nested too deeply");
    skip_ws();
    char c = peek();
    JValue v;
    if (c == '{') {
      v.kind = JValue::Object;
      ++pos_;
      skip_ws();
      if (peek() == '}') { ++pos_; return v; }
      for (;;) {
        skip_ws();
        if (peek() != '"') error("expected a string key");
        v.keys.push_back(parse_string());
        skip_ws();
        expect(':');
        v.values.push_back(parse_value(depth + 1));
        skip_ws();
        if (peek() == ',') { ++pos_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = JValue::Array;
      ++pos_;
      skip_ws();
      if (peek() == ']') { ++pos_; return v; }
      for (;;) {
        v.items.push_back(parse_value(depth + 1));
        skip_ws();
        if (peek() == ',') { ++pos_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = JValue::String;
      v.text = parse_string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = JValue::Number;
      v.text = parse_number();
      return v;
    }
    if (literal("true")) { v.kind = JValue::Bool; v.text = "true"; return v; }
    if (literal("false")) { v.kind = JValue::Bool; v.text = "false"; return v; }
    if (literal("null")) { v.kind = JValue::Null; return v; }
    error("unexpected character");
  }

  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (s_.substr(pos_, n) != word) return false;
    pos_ += n;
    return true;
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  std::string parse_number() {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (pos_ < s_.size() && is_digit(s_[pos_])) {
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    } else {
      error("bad number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (pos_ >= s_.size() || !is_digit(s_[pos_])) error("bad number");
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || !is_digit(s_[pos_])) error("bad number");
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) error("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else error("bad \\u escape");
    }
    return v;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  // Appends one multi-byte UTF-8 character starting at pos_ (RFC 3629: no overlong forms, no
  // surrogates, at most U+10FFFF); anything else is not JSON text.
  void utf8_sequence(std::string& out) {
    const unsigned char b0 = static_cast<unsigned char>(s_[pos_]);
    int n;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) n = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 3; if (b0 == 0xE0) lo = 0xA0; if (b0 == 0xED) hi = 0x9F; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 4; if (b0 == 0xF0) lo = 0x90; if (b0 == 0xF4) hi = 0x8F; }
    else error("invalid UTF-8 in string");
    if (pos_ + n > s_.size()) error("invalid UTF-8 in string");
    for (int i = 1; i < n; ++i) {
      const unsigned char b = static_cast<unsigned char>(s_[pos_ + i]);
      if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) error("invalid UTF-8 in string");
    }
    out.append(s_.substr(pos_, n));
    pos_ += n;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) error("unterminated string");
      char c = s_[pos_];
      if (static_cast<unsigned char>(c) >= 0x80) {
        utf8_sequence(out);
        continue;
      }
      ++pos_;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) error("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // high surrogate: a low one must follow
            if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
              error("unpaired surrogate in \\u escape");
            pos_ += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) error("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("unpaired surrogate in \\u escape");
          }
          put_utf8(out, cp);
          break;
        }
        default: error("bad escape");
      }
    }
  }
};

}  // namespace

JValue parse_json(std::string_view text, const std::string& file) { return JsonParser(text, file).parse_document(); }

bool json_uint(const JValue& v, uint64_t* out) {
  if (v.kind != JValue::Number || v.text.empty()) return false;
  uint64_t x = 0;
  for (char c : v.text) {
    if (c < '0' || c > '9') return false;
    uint64_t d = uint64_t(c - '0');
    if (x > (uint64_t(INT64_MAX) - d) / 10) return false;
    x = x * 10 + d;
  }
  *out = x;
  return true;
}

}  // namespace gpubench
