// GGUF writer. The header is laid out exactly as llama.cpp's gguf writer
// lays it out (gguf_get_meta_data), so a file apex writes is byte-identical
// to llama-quantize's for the same metadata and tensors:
//   magic, version u32, tensor count u64, kv count u64,
//   per kv: key, value type u32, value (arrays: element type u32, count u64,
//           elements; nested arrays repeat that without a type tag),
//   per tensor: name, n_dims u32 (trailing 1s dropped), ne[n_dims] i64,
//           type i32, offset u64,
//   zeros up to the alignment, then each tensor's bytes padded with zeros to
//   the alignment (the last one too).
// Strings are a u64 length and the bytes, no terminator.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <unordered_set>

#include "gguf/gguf.h"
#include "util/temp_files.h"
#include "util/check.h"

namespace apex::gguf {

static_assert(std::endian::native == std::endian::little, "apex writes GGUF in host byte order");

namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Header serialisation goes through a sink so the same code counts bytes
// (Layout::header_bytes) and produces them (serialize_header).
struct CountSink {
  uint64_t n = 0;
  void put(const void*, size_t k) { n += k; }
};
struct ByteSink {
  std::vector<uint8_t>& out;
  void put(const void* p, size_t k) {
    if (k == 0) return;
    const size_t old = out.size();
    out.resize(old + k);
    std::memcpy(out.data() + old, p, k);
  }
};

template <typename Sink, typename T>
void put_pod(Sink& s, T v) {
  s.put(&v, sizeof(T));
}

template <typename Sink>
void put_string(Sink& s, std::string_view v) {
  put_pod<Sink, uint64_t>(s, v.size());
  s.put(v.data(), v.size());
}

// A value without its type tag (the caller writes the tag).
template <typename Sink>
void put_value_body(Sink& s, const Value& value) {
  std::visit(
      [&s](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          put_string(s, v);
        } else if constexpr (std::is_same_v<T, Array>) {
          put_pod<Sink, uint32_t>(s, static_cast<uint32_t>(v.elem_type));
          put_pod<Sink, uint64_t>(s, v.elems.size());
          for (const Value& e : v.elems) put_value_body(s, e);
        } else if constexpr (std::is_same_v<T, bool>) {
          put_pod<Sink, uint8_t>(s, v ? 1 : 0);
        } else {
          put_pod<Sink, T>(s, v);
        }
      },
      value.data);
}

// ggml_n_dims: the number of dims up to the last one that is not 1, at least 1.
uint32_t stored_dims(const std::vector<int64_t>& ne) {
  uint32_t n = static_cast<uint32_t>(ne.size());
  while (n > 1 && ne[n - 1] == 1) --n;
  return std::max<uint32_t>(n, 1);
}

template <typename Sink>
void put_header(Sink& s, const Layout& layout) {
  put_pod<Sink, uint32_t>(s, kMagic);
  put_pod<Sink, uint32_t>(s, layout.version);
  put_pod<Sink, uint64_t>(s, layout.tensors.size());
  put_pod<Sink, uint64_t>(s, layout.kvs.size());
  for (const KeyValue& kv : layout.kvs) {
    put_string(s, kv.key);
    put_pod<Sink, uint32_t>(s, static_cast<uint32_t>(kv.value.type()));
    put_value_body(s, kv.value);
  }
  for (const TensorInfo& t : layout.tensors) {
    put_string(s, t.name);
    const uint32_t n_dims = stored_dims(t.ne);
    put_pod<Sink, uint32_t>(s, n_dims);
    for (uint32_t j = 0; j < n_dims; ++j) put_pod<Sink, int64_t>(s, j < t.ne.size() ? t.ne[j] : 1);
    put_pod<Sink, int32_t>(s, t.type);
    put_pod<Sink, uint64_t>(s, t.offset);
  }
}

Status check_value(const std::string& key, const Value& v, int depth) {
  const Array* arr = v.get_if<Array>();
  if (const std::string* s = v.get_if<std::string>()) {
    if (s->size() > kMaxStringBytes) {
      return make_error("key '{}': string of {} bytes exceeds the {}-byte limit", key, s->size(),
                        kMaxStringBytes);
    }
  }
  if (arr == nullptr) return {};
  if (depth >= kMaxArrayDepth) {
    return make_error("key '{}': arrays nested more than {} deep", key, kMaxArrayDepth);
  }
  if (static_cast<uint32_t>(arr->elem_type) > static_cast<uint32_t>(ValueType::FLOAT64)) {
    return make_error("key '{}': invalid array element type {}", key,
                      static_cast<uint32_t>(arr->elem_type));
  }
  if (arr->elems.size() > kMaxArrayElements) {
    return make_error("key '{}': {} array elements exceed the limit of {}", key, arr->elems.size(),
                      kMaxArrayElements);
  }
  for (size_t i = 0; i < arr->elems.size(); ++i) {
    if (arr->elems[i].type() != arr->elem_type) {
      return make_error("key '{}': element {} is {} in an array of {}", key, i,
                        value_type_name(arr->elems[i].type()), value_type_name(arr->elem_type));
    }
    APEX_RETURN_IF_ERROR(check_value(key, arr->elems[i], depth + 1));
  }
  return {};
}

Status check_layout(Layout& layout) {
  if (layout.version != 2 && layout.version != 3) {
    return make_error("cannot write GGUF version {} (only 2 and 3)", layout.version);
  }
  if (const KeyValue* kv = layout.find(kAlignmentKey)) {
    const uint32_t* a = kv->value.get_if<uint32_t>();
    if (a == nullptr) {
      return make_error("key '{}' must be u32, not {}", kAlignmentKey,
                        value_type_name(kv->value.type()));
    }
    if (*a == 0 || (*a & (*a - 1)) != 0) {
      return make_error("key '{}' = {} is not a power of two", kAlignmentKey, *a);
    }
    if (layout.alignment != *a) {
      return make_error("layout alignment {} differs from its key '{}' = {}", layout.alignment,
                        kAlignmentKey, *a);
    }
  } else if (layout.alignment != kDefaultAlignment) {
    // Readers fall back to 32 without the key, so any other value must be
    // written down.
    return make_error("alignment {} needs a '{}' key", layout.alignment, kAlignmentKey);
  }
  std::unordered_set<std::string_view> keys;
  for (const KeyValue& kv : layout.kvs) {
    if (kv.key.empty()) return make_error("empty metadata key");
    if (!keys.insert(kv.key).second) return make_error("duplicate key '{}'", kv.key);
    if (kv.key.size() > kMaxStringBytes) return make_error("key of {} bytes is too long", kv.key.size());
    APEX_RETURN_IF_ERROR(check_value(kv.key, kv.value, 0));
  }
  std::unordered_set<std::string_view> names;
  for (TensorInfo& t : layout.tensors) {
    if (t.name.size() > kMaxTensorNameBytes) {
      return make_error("tensor name '{}' is {} bytes, longer than ggml's limit of {}", t.name,
                        t.name.size(), kMaxTensorNameBytes);
    }
    if (!names.insert(t.name).second) return make_error("duplicate tensor name '{}'", t.name);
    auto nbytes = tensor_nbytes(t.type, t.ne);
    if (!nbytes.ok()) return make_error("tensor '{}': {}", t.name, nbytes.message());
    if (t.nbytes == 0) {
      t.nbytes = *nbytes;
    } else if (t.nbytes != *nbytes) {
      return make_error("tensor '{}': nbytes {} but its type and shape make {}", t.name, t.nbytes,
                        *nbytes);
    }
  }
  layout.assign_offsets();
  return {};
}

}  // namespace

// ---- Layout -----------------------------------------------------------------

void Layout::set(std::string_view key, Value value) {
  remove(key);
  if (key == kAlignmentKey) {
    // Only a usable value is adopted; anything else stays in the kvs for
    // Writer::create to report.
    const uint32_t* a = value.get_if<uint32_t>();
    if (a != nullptr && *a != 0 && (*a & (*a - 1)) == 0) alignment = *a;
  }
  kvs.push_back(KeyValue{std::string(key), std::move(value)});
}

void Layout::remove(std::string_view key) {
  for (auto it = kvs.begin(); it != kvs.end(); ++it) {
    if (it->key == key) {
      kvs.erase(it);
      if (key == kAlignmentKey) alignment = kDefaultAlignment;
      return;
    }
  }
}

const KeyValue* Layout::find(std::string_view key) const {
  for (const KeyValue& kv : kvs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

uint64_t Layout::assign_offsets() {
  APEX_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignment {} is not a power of two",
             alignment);
  uint64_t offset = 0;
  for (TensorInfo& t : tensors) {
    t.offset = offset;
    offset += align_up(t.nbytes, alignment);
  }
  return offset;
}

uint64_t Layout::header_bytes() const {
  APEX_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignment {} is not a power of two",
             alignment);
  CountSink sink;
  put_header(sink, *this);
  return align_up(sink.n, alignment);
}

uint64_t Layout::total_bytes() const {
  uint64_t total = header_bytes();  // (checks the alignment)
  for (const TensorInfo& t : tensors) total += align_up(t.nbytes, alignment);
  return total;
}

Result<std::vector<uint8_t>> serialize_header(Layout& layout) {
  APEX_RETURN_IF_ERROR(check_layout(layout));
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(layout.header_bytes()));
  ByteSink sink{out};
  put_header(sink, layout);
  out.resize(align_up(out.size(), layout.alignment), 0);
  return out;
}

// ---- Writer -----------------------------------------------------------------

Result<std::unique_ptr<Writer>> Writer::create(const std::string& path, Layout layout) {
  std::unique_ptr<Writer> w(new Writer());
  w->path_ = path;
  w->layout_ = std::move(layout);
  auto header = serialize_header(w->layout_);
  if (!header.ok()) return make_error("{}: {}", path, header.message());

  // The temp file lives beside the target so the final rename stays within
  // one file system (and is therefore atomic).
  std::random_device rd;
  for (int attempt = 0; attempt < 16 && w->fd_ < 0; ++attempt) {
    w->temp_path_ = fmt::format("{}.tmp.{}.{:08x}", path, getpid(), rd());
    w->fd_ = ::open(w->temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (w->fd_ < 0 && errno != EEXIST) {
      return make_error("{}: cannot create temp file {}: {}", path, w->temp_path_,
                        std::strerror(errno));
    }
  }
  if (w->fd_ < 0) return make_error("{}: cannot find a free temp file name", path);
  register_temp_file(w->temp_path_);
  APEX_RETURN_IF_ERROR(w->write_all(header->data(), header->size()));
  w->buffer_.reserve(kBufferBytes);
  return w;
}

Writer::~Writer() {
  if (!finished_) discard();
}

void Writer::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(temp_path_.c_str());
    unregister_temp_file(temp_path_);
  }
}

Status Writer::fail(std::string message) {
  if (failed_.empty()) failed_ = std::move(message);
  discard();  // free the disk space now; the target was never touched
  return Error{failed_};
}

Status Writer::write_all(const uint8_t* data, size_t n) {
  while (n > 0) {
    const ssize_t k = ::write(fd_, data, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("{}: writing {}: {}", path_, temp_path_, std::strerror(errno)));
    }
    data += k;
    n -= static_cast<size_t>(k);
  }
  return {};
}

Status Writer::flush_buffer() {
  if (buffer_.empty()) return {};
  Status s = write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
  return s;
}

Status Writer::write(std::span<const uint8_t> bytes) {
  if (!failed_.empty()) return Error{failed_};
  if (finished_) return fail(fmt::format("{}: write after finish()", path_));
  if (current_ >= layout_.tensors.size()) {
    return fail(fmt::format("{}: {} bytes written after the last tensor", path_, bytes.size()));
  }
  const TensorInfo& t = layout_.tensors[current_];
  if (bytes.size() > t.nbytes - written_in_current_) {
    return fail(fmt::format("{}: tensor '{}': {} more bytes would exceed its {} bytes", path_,
                            t.name, bytes.size(), t.nbytes));
  }
  written_in_current_ += bytes.size();
  if (buffer_.size() + bytes.size() > kBufferBytes) APEX_RETURN_IF_ERROR(flush_buffer());
  if (bytes.size() >= kBufferBytes) return write_all(bytes.data(), bytes.size());
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  return {};
}

Status Writer::end_tensor() {
  if (!failed_.empty()) return Error{failed_};
  if (finished_ || current_ >= layout_.tensors.size()) {
    return fail(fmt::format("{}: end_tensor() with no tensor open", path_));
  }
  const TensorInfo& t = layout_.tensors[current_];
  if (written_in_current_ != t.nbytes) {
    return fail(fmt::format("{}: tensor '{}' ended after {} of its {} bytes", path_, t.name,
                            written_in_current_, t.nbytes));
  }
  // Zero padding to the alignment, after every tensor including the last
  // (llama-quantize's layout). The alignment may exceed the buffer.
  static const uint8_t kZeros[4096] = {};
  uint64_t pad = align_up(t.nbytes, layout_.alignment) - t.nbytes;
  while (pad > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(pad, sizeof(kZeros)));
    if (buffer_.size() + k > kBufferBytes) APEX_RETURN_IF_ERROR(flush_buffer());
    buffer_.insert(buffer_.end(), kZeros, kZeros + k);
    pad -= k;
  }
  ++current_;
  written_in_current_ = 0;
  return {};
}

Status Writer::write_tensor(std::span<const uint8_t> bytes) {
  APEX_RETURN_IF_ERROR(write(bytes));
  return end_tensor();
}

Status Writer::finish() {
  if (!failed_.empty()) return Error{failed_};
  if (finished_) return {};
  if (current_ != layout_.tensors.size()) {
    return fail(fmt::format("{}: finish() after {} of {} tensors", path_, current_,
                            layout_.tensors.size()));
  }
  APEX_RETURN_IF_ERROR(flush_buffer());
  // fsync before rename: otherwise a crash could leave the new name pointing
  // at a file whose data never reached the disk.
  if (::fsync(fd_) != 0) {
    return fail(fmt::format("{}: fsync {}: {}", path_, temp_path_, std::strerror(errno)));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(temp_path_.c_str());
    unregister_temp_file(temp_path_);
    return fail(fmt::format("{}: closing {}: {}", path_, temp_path_, std::strerror(errno)));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    unregister_temp_file(temp_path_);
    return fail(fmt::format("{}: renaming {} to it: {}", path_, temp_path_, std::strerror(err)));
  }
  finished_ = true;
  unregister_temp_file(temp_path_);
  // Make the rename itself durable; failure here loses nothing already
  // visible, so it is not an error.
  const std::string dir = std::filesystem::path(path_).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Status write_file(const std::string& path, Layout layout,
                  const std::vector<std::span<const uint8_t>>& data) {
  if (data.size() != layout.tensors.size()) {
    return make_error("{}: {} tensor buffers for {} tensors", path, data.size(),
                      layout.tensors.size());
  }
  APEX_ASSIGN_OR_RETURN(auto writer, Writer::create(path, std::move(layout)));
  for (const auto& d : data) APEX_RETURN_IF_ERROR(writer->write_tensor(d));
  return writer->finish();
}

}  // namespace apex::gguf
