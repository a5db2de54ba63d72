// llama.cpp's own GGUF reader and writer (libggml-base, through
// oracle::gguf_api) for cross-checks: build a file with its writer, read a
// file with its reader, compare with apex.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace apex::gguf::testing {

// An opaque gguf_context plus the ggml_context holding its tensors.
class OracleGguf {
 public:
  OracleGguf();  // gguf_init_empty
  ~OracleGguf();
  OracleGguf(const OracleGguf&) = delete;
  OracleGguf& operator=(const OracleGguf&) = delete;

  // gguf_init_from_file with the tensor data loaded (no_alloc = false): null
  // when llama.cpp rejects the file.
  static std::unique_ptr<OracleGguf> read(const std::string& path);

  // gguf_set_val_* / gguf_set_arr_data / gguf_set_arr_str by the value's
  // type. Nested arrays have no setter upstream: false.
  bool set(const std::string& key, const Value& value);
  void remove(const std::string& key);
  // ggml_new_tensor + gguf_add_tensor; `data` is copied into the tensor.
  void add_tensor(const std::string& name, int32_t type, const std::vector<int64_t>& ne,
                  std::span<const uint8_t> data);

  std::vector<uint8_t> meta_data() const;              // gguf_get_meta_data
  bool write_to_file(const std::string& path) const;  // gguf_write_to_file, with data

  // Read-back accessors (a context from read()).
  uint32_t version() const;
  uint64_t alignment() const;
  uint64_t data_offset() const;
  // The kvs and tensor infos as apex types (tensor ne padded to 4 dims with
  // 1s the way ggml stores them), and each tensor's loaded bytes.
  std::vector<KeyValue> kvs() const;
  std::vector<TensorInfo> tensors() const;
  std::span<const uint8_t> tensor_bytes(const std::string& name) const;

 private:
  void* gguf_ = nullptr;
  std::vector<void*> ggml_;  // ggml contexts owning tensor structs and data
};

// Whether the oracle libraries are there (tests fail loudly if not).
bool oracle_available();

}  // namespace apex::gguf::testing
