// `apex inspect`: what is in a GGUF file — metadata (arrays abbreviated) and
// a tensor table with types, shapes, bytes and bits per weight.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "util/status.h"

namespace apex::pipeline {

struct TensorSummary {
  std::string name;
  std::string type;             // ggml type name
  std::vector<int64_t> ne;      // ggml order
  uint64_t bytes = 0;
  int64_t n_elements = 0;
  double bits_per_weight() const { return n_elements ? 8.0 * bytes / n_elements : 0.0; }
};

struct FileSummary {
  std::string path;
  uint32_t version = 0;
  uint64_t file_bytes = 0;
  uint64_t alignment = 0;
  std::vector<std::pair<std::string, std::string>> metadata;  // key, abbreviated value
  std::vector<TensorSummary> tensors;
  uint64_t tensor_bytes = 0;
  int64_t n_elements = 0;
  // An APEX file's tier (apex.profile, apex.version, apex.plan); empty otherwise.
  std::string apex_profile, apex_version, apex_plan;
  // Bytes and element counts per ggml type, in order of first appearance.
  std::vector<std::pair<std::string, std::pair<uint64_t, int64_t>>> by_type;
};

Result<FileSummary> inspect_file(const std::string& path, size_t max_array_items = 8);

std::string format_text(const FileSummary& s);
nlohmann::json to_json(const FileSummary& s);

}  // namespace apex::pipeline
