// GGUF reader: maps the file read-only and validates everything up front, so
// that a File which opened successfully can be trusted by every later stage
// (tensor data in bounds, shapes and types known). Hostile input must end in
// a one-line error, never in a crash, a huge allocation or deep recursion:
// every count is checked against the bytes left in the file before anything
// is reserved.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <unordered_set>

#include "gguf/gguf.h"
#include "util/check.h"

namespace apex::gguf {

// Values are read in place with memcpy; a big-endian host would need swaps.
static_assert(std::endian::native == std::endian::little, "apex reads GGUF in host byte order");

namespace {

constexpr uint32_t kMaxValueType = static_cast<uint32_t>(ValueType::FLOAT64);
// Smallest possible encodings, used to reject counts the file cannot hold
// before any memory is reserved for them.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;     // key length, 1-byte key, type, u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset

uint64_t min_encoded_bytes(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL: return 1;
    case ValueType::UINT16:
    case ValueType::INT16: return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32: return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
    case ValueType::STRING: return 8;   // the length prefix
    case ValueType::ARRAY: return 4 + 8;  // element type + count
  }
  return 1;
}

// Names from the file go into one-line messages: escape control bytes and
// cut long ones.
std::string printable(std::string_view s) {
  constexpr size_t kMaxShown = 80;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == kMaxShown) {
      out += fmt::format("...({} bytes)", s.size());
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

// Walks the header of one mapped file. Field names in messages follow the
// spec's vocabulary (key, type, n_dims, ne[i], offset) so a user can find
// the byte in a hex dump.
class Reader {
 public:
  Reader(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  Status parse(File& f);

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t items_ = 0;               // keys + tensors + array elements so far
  std::vector<uint64_t> elem_path_;  // element indexes while inside arrays

  uint64_t left() const { return size_ - pos_; }

  Error error_at(uint64_t offset, std::string_view field, std::string_view problem) const {
    return make_error("{}: offset {}: {}: {}", path_, offset, field, problem);
  }
  Error truncated(std::string_view field, uint64_t need) const {
    return error_at(pos_, field,
                    fmt::format("truncated: needs {} bytes, the {}-byte file has {} left", need,
                                size_, left()));
  }

  template <typename T>
  bool take(T& out) {
    if (left() < sizeof(T)) return false;
    std::memcpy(&out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  Status count_items(uint64_t n, uint64_t at, std::string_view field) {
    if (n > kMaxMetadataItems - items_) {
      return error_at(at, field,
                      fmt::format("more than {} metadata items in total (keys, tensors and array "
                                  "elements); refusing to load",
                                  kMaxMetadataItems));
    }
    items_ += n;
    return {};
  }

  // `field` builds the message prefix lazily: it is only needed on failure,
  // and a vocabulary has hundreds of thousands of strings.
  template <typename FieldFn>
  Status read_string(std::string& out, const FieldFn& field) {
    const uint64_t at = pos_;
    uint64_t len = 0;
    if (!take(len)) return truncated(field(), 8);
    if (len > kMaxStringBytes) {
      return error_at(at, field(),
                      fmt::format("string length {} exceeds the {}-byte limit", len,
                                  kMaxStringBytes));
    }
    if (len > left()) {
      return error_at(at, field(),
                      fmt::format("string length {} runs past the end of the file ({} bytes left)",
                                  len, left()));
    }
    out.assign(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return {};
  }

  std::string value_field(const std::string& key) const {
    std::string f = fmt::format("key '{}'", printable(key));
    if (!elem_path_.empty()) {
      f += " element ";
      for (uint64_t i : elem_path_) f += fmt::format("[{}]", i);
    }
    return f;
  }

  template <typename T>
  Status read_scalar(Value& out, const std::string& key) {
    T v;
    if (!take(v)) return truncated(value_field(key), sizeof(T));
    out.data = v;
    return {};
  }

  Status read_value(ValueType type, Value& out, const std::string& key, int depth);
  Status read_array(Value& out, const std::string& key, int depth);
  Status read_kvs(File& f, uint64_t n_kv);
  Status read_tensor_infos(File& f, uint64_t n_tensors, std::vector<uint64_t>& offset_fields);
  Status read_alignment(File& f);
  Status check_tensor_data(File& f, const std::vector<uint64_t>& offset_fields);

  std::vector<uint64_t> key_offsets_;
};

Status Reader::read_value(ValueType type, Value& out, const std::string& key, int depth) {
  switch (type) {
    case ValueType::UINT8: return read_scalar<uint8_t>(out, key);
    case ValueType::INT8: return read_scalar<int8_t>(out, key);
    case ValueType::UINT16: return read_scalar<uint16_t>(out, key);
    case ValueType::INT16: return read_scalar<int16_t>(out, key);
    case ValueType::UINT32: return read_scalar<uint32_t>(out, key);
    case ValueType::INT32: return read_scalar<int32_t>(out, key);
    case ValueType::FLOAT32: return read_scalar<float>(out, key);
    case ValueType::UINT64: return read_scalar<uint64_t>(out, key);
    case ValueType::INT64: return read_scalar<int64_t>(out, key);
    case ValueType::FLOAT64: return read_scalar<double>(out, key);
    case ValueType::BOOL: {
      // One byte; like llama.cpp, any non-zero byte is true.
      uint8_t b = 0;
      if (!take(b)) return truncated(value_field(key), 1);
      out.data = b != 0;
      return {};
    }
    case ValueType::STRING: {
      std::string s;
      APEX_RETURN_IF_ERROR(read_string(s, [&] { return value_field(key); }));
      out.data = std::move(s);
      return {};
    }
    case ValueType::ARRAY: return read_array(out, key, depth);
  }
  APEX_CHECK(false, "value type {} was not validated", static_cast<uint32_t>(type));
  return {};
}

Status Reader::read_array(Value& out, const std::string& key, int depth) {
  const uint64_t type_at = pos_;
  if (depth >= kMaxArrayDepth) {
    return error_at(type_at, value_field(key),
                    fmt::format("arrays nested more than {} deep", kMaxArrayDepth));
  }
  uint32_t raw_type = 0;
  if (!take(raw_type)) return truncated(value_field(key) + " array type", 4);
  if (raw_type > kMaxValueType) {
    return error_at(type_at, value_field(key) + " array type",
                    fmt::format("invalid element type {}", raw_type));
  }
  const auto elem_type = static_cast<ValueType>(raw_type);
  const uint64_t count_at = pos_;
  uint64_t n = 0;
  if (!take(n)) return truncated(value_field(key) + " array length", 8);
  if (n > kMaxArrayElements) {
    return error_at(count_at, value_field(key) + " array length",
                    fmt::format("{} elements exceed the limit of {}", n, kMaxArrayElements));
  }
  const uint64_t min_bytes = min_encoded_bytes(elem_type);
  if (n > left() / min_bytes) {
    return error_at(count_at, value_field(key) + " array length",
                    fmt::format("{} {} elements need at least {} bytes each, only {} bytes left", n,
                                value_type_name(elem_type), min_bytes, left()));
  }
  APEX_RETURN_IF_ERROR(count_items(n, count_at, value_field(key) + " array length"));

  Array arr;
  arr.elem_type = elem_type;
  arr.elems.resize(static_cast<size_t>(n));
  elem_path_.push_back(0);
  for (uint64_t i = 0; i < n; ++i) {
    elem_path_.back() = i;
    APEX_RETURN_IF_ERROR(read_value(elem_type, arr.elems[i], key, depth + 1));
  }
  elem_path_.pop_back();
  out.data = std::move(arr);
  return {};
}

Status Reader::read_kvs(File& f, uint64_t n_kv) {
  std::unordered_set<std::string> seen;
  // The count is only known to fit in the file; reserve a sane amount and
  // let real entries (each costing bytes of input) grow the rest.
  f.kvs_.reserve(static_cast<size_t>(std::min<uint64_t>(n_kv, 4096)));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t key_at = pos_;
    KeyValue kv;
    APEX_RETURN_IF_ERROR(read_string(kv.key, [&] { return fmt::format("key #{}", i); }));
    if (kv.key.empty()) return error_at(key_at, fmt::format("key #{}", i), "empty key");
    if (!seen.insert(kv.key).second) {
      return error_at(key_at, fmt::format("key #{}", i),
                      fmt::format("duplicate key '{}'", printable(kv.key)));
    }
    APEX_RETURN_IF_ERROR(count_items(1, key_at, fmt::format("key #{}", i)));
    const uint64_t type_at = pos_;
    uint32_t raw_type = 0;
    if (!take(raw_type)) return truncated(fmt::format("key '{}' type", printable(kv.key)), 4);
    if (raw_type > kMaxValueType) {
      return error_at(type_at, fmt::format("key '{}' type", printable(kv.key)),
                      fmt::format("invalid value type {}", raw_type));
    }
    APEX_RETURN_IF_ERROR(read_value(static_cast<ValueType>(raw_type), kv.value, kv.key, 0));
    f.kvs_.push_back(std::move(kv));
    key_offsets_.push_back(key_at);
  }
  return {};
}

Status Reader::read_alignment(File& f) {
  for (size_t i = 0; i < f.kvs_.size(); ++i) {
    if (f.kvs_[i].key != kAlignmentKey) continue;
    const Value& v = f.kvs_[i].value;
    const auto field = fmt::format("key '{}'", kAlignmentKey);
    // llama.cpp insists on exactly u32 and a power of two.
    const uint32_t* a = v.get_if<uint32_t>();
    if (a == nullptr) {
      return error_at(key_offsets_[i], field,
                      fmt::format("must be of type u32, not {}", value_type_name(v.type())));
    }
    if (*a == 0 || (*a & (*a - 1)) != 0) {
      return error_at(key_offsets_[i], field, fmt::format("{} is not a power of two", *a));
    }
    f.alignment_ = *a;
  }
  return {};
}

Status Reader::read_tensor_infos(File& f, uint64_t n_tensors,
                                 std::vector<uint64_t>& offset_fields) {
  std::unordered_map<std::string, uint64_t> seen;
  f.tensors_.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors, 4096)));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    const uint64_t name_at = pos_;
    APEX_RETURN_IF_ERROR(read_string(t.name, [&] { return fmt::format("tensor #{} name", i); }));
    if (t.name.size() > kMaxTensorNameBytes) {
      return error_at(name_at, fmt::format("tensor #{} name", i),
                      fmt::format("'{}' is {} bytes, longer than ggml's limit of {}",
                                  printable(t.name), t.name.size(), kMaxTensorNameBytes));
    }
    const auto [it, inserted] = seen.emplace(t.name, i);
    if (!inserted) {
      return error_at(name_at, fmt::format("tensor #{} name", i),
                      fmt::format("duplicate tensor name '{}' (also tensor #{})", printable(t.name),
                                  it->second));
    }
    APEX_RETURN_IF_ERROR(count_items(1, name_at, fmt::format("tensor #{}", i)));
    const std::string who = fmt::format("tensor '{}'", printable(t.name));

    const uint64_t dims_at = pos_;
    uint32_t n_dims = 0;
    if (!take(n_dims)) return truncated(who + " n_dims", 4);
    if (n_dims > static_cast<uint32_t>(kMaxDims)) {
      return error_at(dims_at, who + " n_dims",
                      fmt::format("{} dims, more than ggml's {}", n_dims, kMaxDims));
    }
    for (uint32_t j = 0; j < n_dims; ++j) {
      const uint64_t ne_at = pos_;
      int64_t d = 0;
      if (!take(d)) return truncated(fmt::format("{} ne[{}]", who, j), 8);
      if (d < 0) return error_at(ne_at, fmt::format("{} ne[{}]", who, j), fmt::format("{} is negative", d));
      t.ne.push_back(d);
    }
    // Zero dims means a scalar in ggml (every ne is 1).
    if (t.ne.empty()) t.ne.push_back(1);

    const uint64_t type_at = pos_;
    if (!take(t.type)) return truncated(who + " type", 4);
    auto nbytes = tensor_nbytes(t.type, t.ne);
    if (!nbytes.ok()) return error_at(type_at, who + " type/shape", nbytes.message());
    t.nbytes = *nbytes;

    offset_fields.push_back(pos_);
    if (!take(t.offset)) return truncated(who + " offset", 8);
    f.tensors_.push_back(std::move(t));
  }
  return {};
}

Status Reader::check_tensor_data(File& f, const std::vector<uint64_t>& offset_fields) {
  const uint64_t header_end = pos_;
  // Like llama.cpp, the data section starts at the next aligned position, but
  // only a file with tensors has one (a metadata-only file may end unpadded).
  if (f.tensors_.empty()) {
    f.data_offset_ = header_end;
    return {};
  }
  f.data_offset_ = align_up(header_end, f.alignment_);
  if (f.data_offset_ > size_) {
    return error_at(header_end, "data section",
                    fmt::format("padding to the {}-byte alignment runs past the end of the "
                                "{}-byte file",
                                f.alignment_, size_));
  }
  const uint64_t data_bytes = size_ - f.data_offset_;
  for (size_t i = 0; i < f.tensors_.size(); ++i) {
    const TensorInfo& t = f.tensors_[i];
    const std::string who = fmt::format("tensor '{}' offset", printable(t.name));
    if (t.offset % f.alignment_ != 0) {
      return error_at(offset_fields[i], who,
                      fmt::format("{} is not a multiple of the alignment {}", t.offset,
                                  f.alignment_));
    }
    if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset) {
      return error_at(offset_fields[i], who,
                      fmt::format("{} bytes at data offset {} run past the end of the file (the "
                                  "data section at {} holds {} bytes)",
                                  t.nbytes, t.offset, f.data_offset_, data_bytes));
    }
  }
  // Overlap check in offset order; empty tensors sort first so they never
  // "overlap" a tensor starting at the same place.
  std::vector<size_t> order(f.tensors_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const TensorInfo& x = f.tensors_[a];
    const TensorInfo& y = f.tensors_[b];
    return x.offset != y.offset ? x.offset < y.offset : x.nbytes < y.nbytes;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = f.tensors_[order[k - 1]];
    const TensorInfo& cur = f.tensors_[order[k]];
    if (cur.offset < prev.offset + prev.nbytes) {
      return error_at(offset_fields[order[k]], fmt::format("tensor '{}' offset", printable(cur.name)),
                      fmt::format("data [{}, {}) overlaps tensor '{}' at [{}, {})", cur.offset,
                                  cur.offset + cur.nbytes, printable(prev.name), prev.offset,
                                  prev.offset + prev.nbytes));
    }
  }
  return {};
}

Status Reader::parse(File& f) {
  uint32_t magic = 0;
  if (!take(magic)) return truncated("magic", 4);
  if (magic != kMagic) {
    return error_at(0, "magic",
                    fmt::format("not a GGUF file (first bytes {:02x} {:02x} {:02x} {:02x}, "
                                "expected 'GGUF')",
                                magic & 0xff, (magic >> 8) & 0xff, (magic >> 16) & 0xff,
                                magic >> 24));
  }
  uint32_t version = 0;
  if (!take(version)) return truncated("version", 4);
  if (version != 2 && version != 3) {
    std::string why;
    if (version == 1) {
      why = "GGUF v1 is no longer supported (convert it with a current llama.cpp)";
    } else if (version != 0 && (version & 0xffff) == 0) {
      why = fmt::format("{} looks byte-swapped: a big-endian file?", version);
    } else {
      why = fmt::format("unsupported version {} (apex reads 2 and 3)", version);
    }
    return error_at(4, "version", why);
  }
  f.version_ = version;

  // Both counts are signed 64-bit upstream; a value the remaining bytes
  // cannot hold is rejected before anything is reserved for it.
  uint64_t n_tensors = 0, n_kv = 0;
  if (!take(n_tensors)) return truncated("tensor count", 8);
  if (!take(n_kv)) return truncated("kv count", 8);
  if (n_kv > left() / kMinKvBytes) {
    return error_at(16, "kv count",
                    fmt::format("{} key-value pairs cannot fit in the {} bytes left", n_kv, left()));
  }
  if (n_tensors > left() / kMinTensorInfoBytes) {
    return error_at(8, "tensor count",
                    fmt::format("{} tensor infos cannot fit in the {} bytes left", n_tensors,
                                left()));
  }

  APEX_RETURN_IF_ERROR(read_kvs(f, n_kv));
  APEX_RETURN_IF_ERROR(read_alignment(f));
  if (n_tensors > left() / kMinTensorInfoBytes) {
    return error_at(8, "tensor count",
                    fmt::format("{} tensor infos cannot fit in the {} bytes left after the "
                                "metadata",
                                n_tensors, left()));
  }
  std::vector<uint64_t> offset_fields;
  APEX_RETURN_IF_ERROR(read_tensor_infos(f, n_tensors, offset_fields));
  APEX_RETURN_IF_ERROR(check_tensor_data(f, offset_fields));

  for (size_t i = 0; i < f.kvs_.size(); ++i) f.kv_index_.emplace(f.kvs_[i].key, i);
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.tensor_index_.emplace(f.tensors_[i].name, i);
  return {};
}

Result<std::unique_ptr<File>> File::open(const std::string& path) {
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  // O_NONBLOCK: a FIFO must fail the regular-file check below, not hang
  // waiting for a writer (no effect on regular files).
  f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f->fd_ < 0) return make_error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(f->fd_, &st) != 0) return make_error("{}: cannot stat: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error("{}: not a regular file", path);
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    // Read-only shared mapping: tensor data is never copied, pages come and
    // go with the page cache (release() drops them early).
    void* m = mmap(nullptr, static_cast<size_t>(f->size_), PROT_READ, MAP_SHARED, f->fd_, 0);
    if (m == MAP_FAILED) return make_error("{}: cannot mmap: {}", path, std::strerror(errno));
    f->map_ = static_cast<const uint8_t*>(m);
  }
  Reader reader(f->path_, f->map_, f->size_);
  APEX_RETURN_IF_ERROR(reader.parse(*f));
  return f;
}

File::~File() {
  if (owned_ != nullptr) {
    munmap(owned_, owned_bytes_);
  } else if (map_ != nullptr) {
    munmap(const_cast<uint8_t*>(map_), static_cast<size_t>(size_));
  }
  if (fd_ >= 0) ::close(fd_);
}

const KeyValue* File::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

bool File::get_string(std::string_view key, std::string& out) const {
  const KeyValue* kv = find(key);
  if (kv == nullptr) return false;
  const std::string* s = kv->value.get_if<std::string>();
  if (s == nullptr) return false;
  out = *s;
  return true;
}

bool File::get_int(std::string_view key, int64_t& out) const {
  const KeyValue* kv = find(key);
  return kv != nullptr && kv->value.as_int(out);
}

bool File::get_float(std::string_view key, double& out) const {
  const KeyValue* kv = find(key);
  if (kv == nullptr) return false;
  if (const float* f = kv->value.get_if<float>()) {
    out = *f;
    return true;
  }
  if (const double* d = kv->value.get_if<double>()) {
    out = *d;
    return true;
  }
  return false;
}

std::span<const uint8_t> File::tensor_data(const TensorInfo& t) const {
  APEX_CHECK(t.offset <= size_ - data_offset_ && t.nbytes <= size_ - data_offset_ - t.offset,
             "tensor '{}' is not from {}", t.name, path_);
  if (t.nbytes == 0) return {};
  return {map_ + data_offset_ + t.offset, static_cast<size_t>(t.nbytes)};
}

void File::release(const TensorInfo& t) const {
  if (t.nbytes == 0 || map_ == nullptr) return;
  // Whole pages, rounded outwards: dropping a page a neighbour still uses
  // only costs a re-read from the page cache, never wrong data.
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t begin = (data_offset_ + t.offset) / page * page;
  const uint64_t end = std::min(align_up(data_offset_ + t.offset + t.nbytes, page),
                                align_up(size_, page));
  madvise(const_cast<uint8_t*>(map_) + begin, static_cast<size_t>(end - begin), MADV_DONTNEED);
}

void File::populate() const {
  if (map_ == nullptr || size_ <= data_offset_) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t begin = data_offset_ / page * page;
  auto* start = const_cast<uint8_t*>(map_) + begin;
  const auto length = static_cast<size_t>(size_ - begin);
  // MADV_POPULATE_READ (Linux 5.14) maps the pages synchronously; older
  // kernels get the asynchronous read-ahead hint instead.
  constexpr int kPopulateRead = 22;
  if (madvise(start, length, kPopulateRead) != 0) madvise(start, length, MADV_WILLNEED);
}

bool File::make_resident() {
  if (owned_ != nullptr) return true;
  if (map_ == nullptr) return false;
  // A 2 MiB-aligned start, so that every whole 2 MiB stretch of the copy
  // can be one huge page.
  constexpr size_t kHuge = size_t{2} << 20;
  const auto size = static_cast<size_t>(size_);
  const size_t bytes = (size + kHuge - 1) / kHuge * kHuge + kHuge;
  void* region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) return false;
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(region) + kHuge - 1) / kHuge * kHuge;
  auto* base = reinterpret_cast<uint8_t*>(aligned);
  // Before the first touch: with THP in "madvise" mode (the common default)
  // the faults then allocate huge pages.
  madvise(base, bytes - (aligned - reinterpret_cast<uintptr_t>(region)), MADV_HUGEPAGE);
  // pread straight into the copy: one pass over the page cache, no faults
  // on the file mapping.
  for (size_t done = 0; done < size;) {
    const ssize_t got = pread(fd_, base + done, std::min<size_t>(size - done, size_t{1} << 30),
                              static_cast<off_t>(done));
    if (got <= 0) {  // an error, or the file shrank since it was opened
      if (got < 0 && errno == EINTR) continue;
      munmap(region, bytes);
      return false;
    }
    done += static_cast<size_t>(got);
  }
  munmap(const_cast<uint8_t*>(map_), size);
  mprotect(region, bytes, PROT_READ);
  map_ = base;
  owned_ = region;
  owned_bytes_ = bytes;
  return true;
}

}  // namespace apex::gguf
