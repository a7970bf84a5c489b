// Safetensors reader (see safetensors.h). Standard library and POSIX mmap only.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <map>
#include <string_view>

#include "base/error.h"
#include "base/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cc assumes a little-endian host (safetensors data is little-endian)"
#endif

namespace gpubench {

namespace {

// Tensor names come from the file and may hold any character: escape control characters so the
// message stays on one line.
[[noreturn]] void weights_error(const std::string& msg) {
  std::string line;
  for (unsigned char c : msg) {
    if (c >= 0x20 && c != 0x7F) {
      line += char(c);
    } else {
      static const char* hex = "0123456789abcdef";
      line += "\\x";
      line += hex[c >> 4];
      line += hex[c & 15];
    }
  }
  fail(ErrorCode::Weights, line);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Bytes per element; 0 for a dtype this reader does not know at all.
uint64_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "BF16" || d == "F16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2" ||
      d == "F8_E8M0")
    return 1;
  return 0;
}

bool readable_dtype(const std::string& d) { return d == "BF16" || d == "F16" || d == "F32"; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One read-only mapping of a whole file; unmapped when destroyed.
struct Mapping {
  std::string path;
  const uint8_t* data = nullptr;
  uint64_t size = 0;

  explicit Mapping(const std::string& p) : path(p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) weights_error(p + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      weights_error(p + ": cannot stat: " + std::strerror(e));
    }
    size = uint64_t(st.st_size);
    if (size == 0) {  // mmap refuses a zero length; parse() reports the short file
      ::close(fd);
      return;
    }
    void* addr = ::mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);
    if (addr == MAP_FAILED) weights_error(p + ": cannot mmap: " + std::strerror(e));
    data = static_cast<const uint8_t*>(addr);
  }
  ~Mapping() {
    if (data) ::munmap(const_cast<uint8_t*>(data), size_t(size));
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

}  // namespace

float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;  // +-0
    } else {        // subnormal: value = mant * 2^-24; normalize it into an fp32 normal
      int e = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
      }
      mant &= 0x3FFu;
      bits = sign | (uint32_t(e) << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf (mant 0) or nan (payload kept, so still nan)
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct SafetensorsSet::Impl {
  std::string path;
  std::vector<std::unique_ptr<Mapping>> maps;
  struct Entry {
    SafetensorInfo info;
    const uint8_t* data;
  };
  std::map<std::string, Entry> tensors;

  void load_file(const std::string& file) {
    maps.push_back(std::make_unique<Mapping>(file));
    parse(file, maps.back()->data, maps.back()->size);
  }

  // Every tensor of one file's bytes; an entry's data pointer points into `bytes`.
  void parse(const std::string& file, const uint8_t* bytes, uint64_t size) {
    if (size < 8)
      weights_error(file + ": file is " + std::to_string(size) +
                    " bytes, shorter than the 8-byte safetensors header length");
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes, 8);
    if (header_len > size - 8)
      weights_error(file + ": header length " + std::to_string(header_len) +
                    " is larger than the file (" + std::to_string(size) + " bytes)");
    const uint64_t data_start = 8 + header_len;
    const uint64_t data_len = size - data_start;

    std::string_view text(reinterpret_cast<const char*>(bytes + 8), size_t(header_len));
    JValue root = parse_json(text, file);
    if (root.kind != JValue::Object) weights_error(file + ": header is not a JSON object");

    struct Range {
      uint64_t begin, end;
      const std::string* name;
    };
    std::vector<Range> ranges;
    for (size_t i = 0; i < root.keys.size(); ++i) {
      const std::string& name = root.keys[i];
      const JValue& v = root.values[i];
      if (name == "__metadata__") {  // not needed here, but the format says string to string
        bool strings = v.kind == JValue::Object;
        for (const JValue& x : v.values) strings = strings && x.kind == JValue::String;
        if (!strings) weights_error(file + ": '__metadata__' must be an object of strings");
        continue;
      }
      const std::string where = file + ": tensor '" + name + "'";
      if (v.kind != JValue::Object) weights_error(where + ": header entry is not an object");

      const JValue* dtype = v.get("dtype");
      const JValue* shape = v.get("shape");
      const JValue* offs = v.get("data_offsets");
      if (!dtype || dtype->kind != JValue::String)
        weights_error(where + ": header entry has no string 'dtype'");
      if (!shape || shape->kind != JValue::Array)
        weights_error(where + ": header entry has no 'shape' array");
      if (!offs || offs->kind != JValue::Array || offs->items.size() != 2)
        weights_error(where + ": header entry has no 'data_offsets' [begin, end]");

      SafetensorInfo info;
      info.dtype = dtype->text;
      info.file = file;
      uint64_t numel = 1;
      bool numel_overflow = false;
      for (const JValue& d : shape->items) {
        uint64_t x;
        if (!json_uint(d, &x)) weights_error(where + ": 'shape' must hold non-negative integers");
        info.shape.push_back(int64_t(x));
        if (x != 0 && numel > UINT64_MAX / x) numel_overflow = true;
        else numel *= x;
      }
      uint64_t begin, end;
      if (!json_uint(offs->items[0], &begin) || !json_uint(offs->items[1], &end) || end < begin)
        weights_error(where + ": 'data_offsets' must be non-negative integers [begin, end] with begin <= end");
      if (end > data_len)
        weights_error(file + ": truncated: tensor '" + name + "' needs bytes [" + std::to_string(begin) +
                      "," + std::to_string(end) + ") but the data section has " +
                      std::to_string(data_len));
      info.offset = data_start + begin;
      info.nbytes = end - begin;
      if (end > begin) ranges.push_back({begin, end, &root.keys[i]});

      const uint64_t esize = dtype_size(info.dtype);
      if (esize != 0) {  // an unknown dtype is reported when it is read, not here
        if (numel_overflow || numel > UINT64_MAX / esize || numel * esize != info.nbytes)
          weights_error(where + ": data_offsets give " + std::to_string(info.nbytes) + " bytes but shape " +
                        shape_str(info.shape) + " of " + info.dtype + " needs " +
                        (numel_overflow ? std::string("more than 2^64") : std::to_string(numel * esize)));
      }

      auto it = tensors.find(name);
      if (it != tensors.end()) {
        if (it->second.info.file == file)
          weights_error(file + ": tensor '" + name + "' appears twice in the header");
        weights_error("tensor '" + name + "' is in two shards: " + it->second.info.file + " and " + file);
      }
      tensors.emplace(name, Entry{std::move(info), bytes + data_start + begin});
    }
    // Two tensors sharing bytes would alias each other's data.
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < ranges.size(); ++i) {
      const Range& a = ranges[i - 1];
      const Range& b = ranges[i];
      if (b.begin < a.end)
        weights_error(file + ": tensors '" + *a.name + "' [" + std::to_string(a.begin) + "," + std::to_string(a.end) +
                      ") and '" + *b.name + "' [" + std::to_string(b.begin) + "," + std::to_string(b.end) +
                      ") overlap in the data section");
    }
  }

  const Entry& entry(const std::string& name) const {
    auto it = tensors.find(name);
    if (it != tensors.end()) return it->second;
    // Suggest the names that share the longest prefix with the one asked for.
    std::vector<std::pair<size_t, const std::string*>> near;
    for (const auto& kv : tensors) {
      const std::string& n = kv.first;
      size_t k = 0;
      while (k < n.size() && k < name.size() && n[k] == name[k]) ++k;
      near.emplace_back(k, &n);
    }
    std::stable_sort(near.begin(), near.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string msg = "tensor '" + name + "' not found in " + path + " (" + std::to_string(tensors.size()) +
                      " tensors";
    for (size_t i = 0; i < near.size() && i < 3; ++i) msg += (i == 0 ? "; e.g. " : ", ") + *near[i].second;
    weights_error(msg + ")");
  }
};

SafetensorsSet::SafetensorsSet(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    weights_error("safetensors path " + path + " does not exist (" + std::strerror(errno) + ")");
  std::vector<std::string> files;
  if (S_ISDIR(st.st_mode)) {
    DIR* dir = ::opendir(path.c_str());
    if (!dir) weights_error(path + ": cannot open folder: " + std::strerror(errno));
    while (struct dirent* de = ::readdir(dir)) {
      std::string n = de->d_name;
      if (!ends_with(n, ".safetensors")) continue;
      std::string full = path + (ends_with(path, "/") ? "" : "/") + n;
      struct stat fst;
      if (::stat(full.c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) files.push_back(full);
    }
    ::closedir(dir);
    if (files.empty()) weights_error("no .safetensors files in folder " + path);
    std::sort(files.begin(), files.end());
  } else if (S_ISREG(st.st_mode)) {
    files.push_back(path);
  } else {
    weights_error("safetensors path " + path + " is neither a file nor a folder");
  }
  for (const std::string& f : files) impl_->load_file(f);
}

SafetensorsSet::SafetensorsSet() : impl_(std::make_unique<Impl>()) {}

std::unique_ptr<SafetensorsSet> SafetensorsSet::from_bytes(const uint8_t* data, uint64_t size, const std::string& name) {
  std::unique_ptr<SafetensorsSet> set(new SafetensorsSet());
  set->impl_->path = name;
  set->impl_->parse(name, data, size);
  return set;
}

SafetensorsSet::~SafetensorsSet() = default;  // each Mapping unmaps its file

bool SafetensorsSet::has(const std::string& name) const { return impl_->tensors.count(name) != 0; }

const SafetensorInfo& SafetensorsSet::info(const std::string& name) const { return impl_->entry(name).info; }

const uint8_t* SafetensorsSet::raw(const std::string& name) const { return impl_->entry(name).data; }

const std::string& SafetensorsSet::path() const { return impl_->path; }

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->tensors.size());
  for (const auto& kv : impl_->tensors) out.push_back(kv.first);
  return out;
}

namespace {

// n elements of a tensor of `dtype` from element `first` of its data, as fp32.
void convert(const std::string& dtype, const uint8_t* data, uint64_t first, uint64_t n, float* dst) {
  if (dtype == "F32") {
    std::memcpy(dst, data + 4 * first, size_t(4 * n));  // the data may be unaligned: copy bytes
    return;
  }
  const bool bf16 = dtype == "BF16";
  for (uint64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, data + 2 * (first + i), 2);
    dst[i] = bf16 ? bf16_to_f32(h) : f16_to_f32(h);
  }
}

// A tensor read_f32 can read as `shape`: exactly that shape, a dtype it converts.
void check_readable(const std::string& name, const SafetensorInfo& info, const std::vector<int64_t>& shape) {
  if (info.shape != shape)
    weights_error(info.file + ": tensor '" + name + "' has shape " + shape_str(info.shape) + ", expected " +
                  shape_str(shape));
  if (!readable_dtype(info.dtype))
    weights_error(info.file + ": tensor '" + name + "' has unsupported dtype " + info.dtype +
                  " (supported: BF16, F16, F32)");
}

}  // namespace

void SafetensorsSet::read_f32(const std::string& name, const std::vector<int64_t>& shape, float* dst) const {
  const Impl::Entry& e = impl_->entry(name);
  const SafetensorInfo& info = e.info;
  check_readable(name, info, shape);
  if (info.nbytes == 0) return;
  convert(info.dtype, e.data, 0, info.nbytes / (info.dtype == "F32" ? 4 : 2), dst);
}

void SafetensorsSet::read_f32_block(const std::string& name, const std::vector<int64_t>& shape, int64_t row0,
                                    int64_t rows, int64_t col0, int64_t cols, float* dst) const {
  const Impl::Entry& e = impl_->entry(name);
  const SafetensorInfo& info = e.info;
  check_readable(name, info, shape);
  if (info.nbytes == 0) return;
  // Seen as [R, C]: a 2-D tensor as it is, any other as one column of all its elements.
  const int64_t C = shape.size() == 2 ? shape[1] : 1;
  const int64_t R = (int64_t)(info.nbytes / (info.dtype == "F32" ? 4 : 2)) / C;
  if (row0 < 0 || rows < 0 || row0 + rows > R || col0 < 0 || cols < 0 || col0 + cols > C)
    weights_error(info.file + ": tensor '" + name + "' has no block of rows [" + std::to_string(row0) + ", " +
                  std::to_string(row0 + rows) + ") and columns [" + std::to_string(col0) + ", " +
                  std::to_string(col0 + cols) + ")");
  for (int64_t r = 0; r < rows; ++r) convert(info.dtype, e.data, (uint64_t)((row0 + r) * C + col0), (uint64_t)cols, dst + r * cols);
}

}  // namespace gpubench
