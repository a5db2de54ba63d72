// Hugging Face safetensors files: reading (by mmap, validated), sharded
// checkpoints (model.safetensors.index.json), and streaming writing (temp
// file beside the target, renamed at the end).
//
// Format (huggingface/safetensors README): a u64 little-endian N, then N
// bytes of UTF-8 JSON, then the data area. The JSON is an object mapping
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data area start, end exclusive), plus an optional
// "__metadata__" object of string -> string. Shapes are in PyTorch order:
// row-major, the LAST dimension contiguous (the reverse of ggml's ne order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/status.h"

namespace apex::st {

// A header larger than this is refused before it is read (the reference
// implementation's own limit is 100 MB; real checkpoints need a few MB).
inline constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;
// Deepest JSON nesting a valid header has is 3 (object / tensor / shape);
// anything much deeper is hostile.
inline constexpr int kMaxJsonDepth = 8;
inline constexpr int kMaxDims = 16;
inline constexpr const char* kMetadataKey = "__metadata__";
inline constexpr const char* kIndexFileName = "model.safetensors.index.json";
inline constexpr const char* kSingleFileName = "model.safetensors";

enum class DType : uint8_t {
  BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64,
};
// The spelling used in headers ("BF16", "F8_E4M3", ...).
const char* dtype_name(DType d);
std::optional<DType> parse_dtype(std::string_view name);
size_t dtype_bytes(DType d);
// F16, BF16, F32, F64 (the types to_f32 converts).
bool is_float(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // PyTorch order, last dim contiguous; [] is a scalar
  uint64_t begin = 0;          // offset in the data area
  uint64_t end = 0;            // exclusive

  uint64_t nbytes() const { return end - begin; }
  int64_t n_elements() const;
};

// Bytes of a tensor, or an error (negative dim, too many dims, overflow).
Result<uint64_t> tensor_nbytes(DType dtype, std::span<const int64_t> shape);

// One .safetensors file opened read-only by mmap. Everything is validated on
// open: known dtypes, shapes, offsets inside the data area, each span equal
// to product(shape) * dtype size, no overlaps and no holes (as the reference
// implementation requires). A successful open means tensor_data() is safe.
class File {
 public:
  static Result<std::unique_ptr<File>> open(const std::string& path);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // In data-offset order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;

  std::span<const uint8_t> tensor_data(const TensorInfo& t) const;
  // Hint the kernel that a tensor's pages are no longer needed (bounded RSS).
  void release(const TensorInfo& t) const;

 private:
  File() = default;
  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> index_;
};

// A tensor located in a checkpoint: its shard and its entry there.
struct TensorRef {
  const File* file = nullptr;
  const TensorInfo* info = nullptr;
  std::span<const uint8_t> data() const { return file->tensor_data(*info); }
};

// A whole checkpoint: a single .safetensors file or a sharded one described
// by model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor:
// shard file}}). Shards are opened on first use.
class Checkpoint {
 public:
  // `path` may be a directory (holding model.safetensors.index.json or
  // model.safetensors), an index .json file, or a .safetensors file.
  static Result<std::unique_ptr<Checkpoint>> open(const std::string& path);

  // Every tensor name, sorted.
  const std::vector<std::string>& names() const { return names_; }
  bool contains(std::string_view name) const;
  // Opens the tensor's shard if needed. Errors name the index/shard file and
  // the tensor: unknown name, shard absent or invalid, tensor missing from
  // the shard the index names.
  Result<TensorRef> find(std::string_view name);
  // The index's "metadata" object as strings (e.g. total_size), or the single
  // file's __metadata__.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;   // index file or single file
  std::string dir_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::string> shard_of_;  // tensor -> shard file name
  std::unordered_map<std::string, std::unique_ptr<File>> shards_;
  std::map<std::string, std::string> metadata_;
};

// Converts n elements of a float tensor (F16, BF16, F32, F64) to float.
Status to_f32(DType dtype, std::span<const uint8_t> bytes, std::span<float> out);

// A tensor to write: declared up front, bytes streamed later in order.
struct TensorDecl {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // PyTorch order
};

// The header bytes (u64 length + JSON padded with spaces so the data area
// starts at a multiple of 8) for these tensors in this order, or an error
// (empty or duplicate names, "__metadata__" as a name, bad shape).
Result<std::vector<uint8_t>> serialize_header(const std::vector<TensorDecl>& tensors,
                                              const std::map<std::string, std::string>& metadata);

// Streams one .safetensors file: header first, then each declared tensor's
// bytes in declaration order (possibly in several pieces), then finish()
// renames the temp file to the target. Destroyed before finish(): the temp
// file is removed and the target untouched.
class Writer {
 public:
  static Result<std::unique_ptr<Writer>> create(const std::string& path,
                                                std::vector<TensorDecl> tensors,
                                                std::map<std::string, std::string> metadata = {});
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends bytes of the current tensor (more than its size is an error).
  Status write(std::span<const uint8_t> bytes);
  // Closes the current tensor; it must be complete.
  Status end_tensor();
  Status write_tensor(std::span<const uint8_t> bytes);  // write + end_tensor
  // Every tensor complete: flush, fsync, close, rename to the target.
  Status finish();

  const std::vector<TensorDecl>& tensors() const { return tensors_; }
  size_t current() const { return current_; }  // index of the tensor being written
  uint64_t total_bytes() const { return total_bytes_; }  // of the finished file

 private:
  Writer() = default;
  std::vector<TensorDecl> tensors_;
  std::vector<uint64_t> sizes_;
  std::string path_, temp_path_;
  int fd_ = -1;
  size_t current_ = 0;
  uint64_t written_in_current_ = 0;
  uint64_t total_bytes_ = 0;
  std::vector<uint8_t> buffer_;
  bool finished_ = false;
  std::string failed_;
  Status flush_buffer();
  Status write_all(const uint8_t* data, size_t n);
  Status fail(std::string message);
  void discard();
};

// Writes a checkpoint into directory `dir` split into shards of at most
// `max_shard_bytes` of tensor data each (a tensor bigger than that gets a
// shard of its own): one shard is written as model.safetensors; several as
// model-0000i-of-0000n.safetensors plus model.safetensors.index.json
// (metadata.total_size = sum of tensor bytes, weight_map). Same streaming
// protocol as Writer; the index is written by finish(), after every shard.
class ShardedWriter {
 public:
  static Result<std::unique_ptr<ShardedWriter>> create(
      const std::string& dir, std::vector<TensorDecl> tensors, uint64_t max_shard_bytes,
      std::map<std::string, std::string> metadata = {});

  Status write(std::span<const uint8_t> bytes);
  Status end_tensor();
  Status write_tensor(std::span<const uint8_t> bytes);
  Status finish();

  size_t n_shards() const { return shard_files_.size(); }
  const std::vector<std::string>& shard_files() const { return shard_files_; }
  uint64_t total_tensor_bytes() const { return total_tensor_bytes_; }

 private:
  std::string dir_;
  std::vector<TensorDecl> tensors_;
  std::map<std::string, std::string> metadata_;
  std::vector<size_t> shard_of_;            // per tensor
  std::vector<std::string> shard_files_;
  uint64_t total_tensor_bytes_ = 0;
  size_t current_ = 0;                      // tensor index
  size_t open_shard_ = SIZE_MAX;
  std::unique_ptr<Writer> writer_;
  Status open_shard(size_t shard);
};

// Writes a small text file atomically (temp file beside it, fsync, rename):
// config.json, index files, provenance.
Status write_text_file(const std::string& path, std::string_view text);

}  // namespace apex::st
