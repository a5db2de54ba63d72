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
#include <unordered_map>
#include <variant>
#include <vector>

#include "util/status.h"

namespace apex::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;

// Limits on what a file may claim. The first two are llama.cpp's own
// (GGUF_MAX_STRING_LENGTH / GGUF_MAX_ARRAY_ELEMENTS). The rest keep hostile
// input from turning a small file into a huge allocation or a deep
// recursion: every key, tensor and array element costs one item of
// kMaxMetadataItems (a Value is ~40 bytes, so this bounds metadata memory
// near 700 MB; real vocabularies use well under a million items). This is
// the one limit stricter than llama.cpp's.
inline constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;
inline constexpr uint64_t kMaxArrayElements = uint64_t{1} << 30;
inline constexpr uint64_t kMaxMetadataItems = uint64_t{1} << 24;
inline constexpr int kMaxArrayDepth = 8;       // arrays of arrays of ...
inline constexpr size_t kMaxTensorNameBytes = 63;  // ggml's GGML_MAX_NAME minus the NUL
inline constexpr const char* kAlignmentKey = "general.alignment";

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
// An array value: every element has elem_type (nested arrays allowed by the
// format and by apex; llama.cpp itself rejects them).
struct Array {
  ValueType elem_type = ValueType::UINT8;
  std::vector<Value> elems;
};
bool operator==(const Array& a, const Array& b);

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
// Exact equality: same type, same value (floats compared bit for bit).
bool operator==(const Value& a, const Value& b);

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  // 1..4 dims, ggml order (ne[0] contiguous), as stored in the file. The
  // writer stores ggml_n_dims of it (trailing 1s dropped, at least one dim),
  // as llama.cpp does, so [4096, 1] reads back as [4096].
  std::vector<int64_t> ne;
  int32_t type = 0;         // ggml type id (quant/type_id.h)
  uint64_t offset = 0;      // from the start of the data section (aligned)
  uint64_t nbytes = 0;      // computed from shape and type

  int64_t n_elements() const;
  int64_t n_rows() const;   // product of ne[1..]
};

// Bytes of a tensor of this type and shape (quant::row_bytes of ne[0] times
// the rows), or an error naming the problem: unknown/retired type id, no or
// more than kMaxDims dims, a negative dim, ne[0] not a multiple of the block
// size, element or byte count overflow. Zero dims are allowed (as upstream).
Result<uint64_t> tensor_nbytes(int32_t type, std::span<const int64_t> ne);

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
  // The whole mapping (empty for an empty file).
  std::span<const uint8_t> bytes() const { return {map_, static_cast<size_t>(size_)}; }

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
  // Maps every page of the tensor data now (readers that will touch all of
  // it, like the inference engine), as llama.cpp's loader does with
  // MAP_POPULATE: the page faults are paid at load, not in the first
  // forward pass. Best effort; the mapping stays valid either way.
  void populate() const;
  // Reads the whole file into anonymous memory backed by transparent huge
  // pages and drops the file mapping: readers that sweep every weight on
  // every pass (the inference engine's generation) then take one TLB entry
  // per 2 MiB instead of one per 4 KiB page, which matters most under
  // virtualisation. Must be called before any tensor_data() span is taken
  // (the bytes move). Returns false, leaving the mapping as it was, when the
  // memory cannot be had or the file cannot be read.
  bool make_resident();
  // True after a successful make_resident().
  bool resident() const { return owned_ != nullptr; }

 private:
  File() = default;
  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  void* owned_ = nullptr;  // make_resident's anonymous region (map_ points into it)
  size_t owned_bytes_ = 0;
  uint32_t version_ = 3;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kvs_;
  std::vector<TensorInfo> tensors_;
  // Name lookups; the views point into kvs_/tensors_, which never change
  // after open.
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
  friend class Reader;
};

// Describes a file to write: metadata in order, tensors in order. Offsets
// are assigned by the writer; nbytes must match the type and shape (0 is
// filled in by serialize_header / Writer::create).
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
  // header_bytes() plus every tensor padded to the alignment (the last one
  // too, as llama.cpp writes it): the size of the file the Writer produces.
  uint64_t total_bytes() const;
};

// Checks a layout (version 2/3, keys non-empty and unique, array elements of
// their declared type, general.alignment a power-of-two u32 equal to
// `alignment` (or absent with the default), tensor names unique and short
// enough, shapes valid, nbytes equal to tensor_nbytes, or 0 to have it
// filled in), assigns offsets and returns the exact header bytes llama.cpp's
// gguf_get_meta_data would produce for the same content.
Result<std::vector<uint8_t>> serialize_header(Layout& layout);

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
  // write() + end_tensor() for a tensor given in one piece.
  Status write_tensor(std::span<const uint8_t> bytes);
  // All tensors complete: flush, fsync, close and rename to the target.
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
  std::string failed_;            // first I/O or usage error; later calls repeat it
  Status flush_buffer();
  Status write_all(const uint8_t* data, size_t n);
  Status fail(std::string message);
  void discard();                 // close and remove the temp file
};

// Writes a whole file from in-memory tensor bytes (tests, small tools).
Status write_file(const std::string& path, Layout layout,
                  const std::vector<std::span<const uint8_t>>& data);

}  // namespace apex::gguf
