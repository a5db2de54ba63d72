// GGUF files: reading (by mmap, validated) and writing (streamed into a temp
// file beside the target, renamed at the end). Format: versions 2 and 3 as
// described in ggml's docs/gguf.md; all integers little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/status.h"

namespace apex::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;

// Metadata value types (wire format).
enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
const char* value_type_name(ValueType t);

struct Value;
// An array value: every element has elem_type (nested arrays allowed).
struct Array {
  ValueType elem_type = ValueType::UINT8;
  std::vector<Value> elems;
};

struct Value {
  // Index of the alternative equals the ValueType number.
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float,
                               bool, std::string, Array, uint64_t, int64_t, double>;
  Storage data;

  Value() : data(uint8_t{0}) {}
  template <typename T>
  Value(T v) : data(std::move(v)) {}  // NOLINT: implicit from any stored type
  ValueType type() const { return static_cast<ValueType>(data.index()); }

  template <typename T>
  const T* get_if() const { return std::get_if<T>(&data); }
  // Integer of any width/sign as int64 (false if not an integer type).
  bool as_int(int64_t& out) const;
  // Human-readable, arrays abbreviated to max_items elements.
  std::string to_string(size_t max_items = 8) const;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // 1..4 dims, ggml order (ne[0] contiguous)
  int32_t type = 0;         // ggml type id (quant/type_id.h)
  uint64_t offset = 0;      // from the start of the data section (aligned)
  uint64_t nbytes = 0;      // computed from shape and type

  int64_t n_elements() const;
  int64_t n_rows() const;   // product of ne[1..]
};

// A GGUF file opened read-only by mmap. Everything is validated on open: a
// successful open means every tensor's data lies inside the file.
class File {
 public:
  static Result<std::unique_ptr<File>> open(const std::string& path);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section
  uint64_t file_size() const { return size_; }

  const std::vector<KeyValue>& kvs() const { return kvs_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const KeyValue* find(std::string_view key) const;
  const TensorInfo* find_tensor(std::string_view name) const;

  // Convenience typed getters: nullopt-like (false) when missing or another type.
  bool get_string(std::string_view key, std::string& out) const;
  bool get_int(std::string_view key, int64_t& out) const;
  bool get_float(std::string_view key, double& out) const;

  std::span<const uint8_t> tensor_data(const TensorInfo& t) const;
  // Hint the kernel that a tensor's pages are no longer needed (bounded RSS).
  void release(const TensorInfo& t) const;

 private:
  File() = default;
  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 3;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kvs_;
  std::vector<TensorInfo> tensors_;
  friend class Reader;
};

// Describes a file to write: metadata in order, tensors in order (offsets are
// assigned by the writer, nbytes must be set).
struct Layout {
  uint32_t version = 3;
  std::vector<KeyValue> kvs;
  std::vector<TensorInfo> tensors;
  uint64_t alignment = kDefaultAlignment;  // general.alignment if present in kvs

  // Sets a key the way upstream's gguf_set_val_* does: an existing entry is
  // removed and the new one appended at the end (so re-setting a key moves
  // it last; llama_model_quantize's output key order depends on this).
  void set(std::string_view key, Value value);
  void remove(std::string_view key);
  const KeyValue* find(std::string_view key) const;
  // Assigns aligned offsets from nbytes; returns the data section size.
  uint64_t assign_offsets();
  // Bytes of the header + kv + tensor infos + padding (the data section start).
  uint64_t header_bytes() const;
  uint64_t total_bytes() const;
};

// Streams a GGUF file: header first, then each tensor's bytes in layout
// order (possibly in several pieces), padding between tensors, then finish()
// renames the temp file to the target. If the writer is destroyed before
// finish() (error, exception, interrupt) the temp file is removed and the
// target is untouched.
class Writer {
 public:
  static Result<std::unique_ptr<Writer>> create(const std::string& path, Layout layout);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends bytes of the current tensor. Writing more than its nbytes is an error.
  Status write(std::span<const uint8_t> bytes);
  // Closes the current tensor (must be complete) and pads to alignment.
  Status end_tensor();
  // All tensors complete: flush, close and rename to the target.
  Status finish();

  const Layout& layout() const { return layout_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  Writer() = default;
  Layout layout_;
  std::string path_, temp_path_;
  int fd_ = -1;
  size_t current_ = 0;            // index of the tensor being written
  uint64_t written_in_current_ = 0;
  std::vector<uint8_t> buffer_;   // small write buffer
  bool finished_ = false;
  Status flush_buffer();
};

// Writes a whole file from in-memory tensor bytes (tests, small tools).
Status write_file(const std::string& path, Layout layout,
                  const std::vector<std::span<const uint8_t>>& data);

}  // namespace apex::gguf
