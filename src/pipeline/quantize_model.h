// `apex quantize`: a whole GGUF file to a new one, the way llama-quantize
// does it (same tensor types, order, bytes and metadata), streamed in bounded
// memory: the input is mmapped and released tensor by tensor, rows are
// converted in slabs, the output goes to a temp file renamed at the end.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "imatrix/coverage.h"
#include "plan/llama_rules.h"
#include "util/status.h"

namespace apex::pipeline {

struct QuantizeJob {
  std::string input;
  std::string output;                 // ignored for a dry run
  const plan::FtypeInfo* ftype = nullptr;
  plan::QuantizeOptions rules;        // pure, output/token-embd types, overrides...
  std::string imatrix_path;           // empty: none
  // What to do with experts (matrices) the imatrix has no data for.
  imatrix::ZeroDataPolicy zero_data_policy = imatrix::ZeroDataPolicy::kPlain;
  // Extra metadata set after llama-quantize's keys (e.g. apex.* keys).
  std::vector<gguf::KeyValue> extra_metadata;
  bool dry_run = false;
  int threads = 0;                    // 0: all cores
  bool progress = false;              // progress bar on stderr (when a terminal)
};

struct TensorReport {
  std::string name;
  std::vector<int64_t> ne;
  quant::TypeId src_type;
  quant::TypeId dst_type;
  uint64_t src_bytes = 0;
  uint64_t dst_bytes = 0;
  bool quantized = false;          // converted (false: copied unchanged)
  bool fell_back = false;
  bool used_imatrix = false;
  plan::ChoiceSource source = plan::ChoiceSource::kNotQuantized;
};

struct QuantizeReport {
  std::string input, output;
  std::string ftype_name;
  uint32_t file_type = 0;          // general.file_type written
  std::vector<TensorReport> tensors;
  uint64_t src_bytes = 0, dst_bytes = 0, output_file_bytes = 0;
  int64_t n_elements = 0;
  int n_fallback = 0;
  double seconds = 0;
  // One line per tensor with matrices the imatrix has no data for, saying
  // what the zero-data policy did (the CLI prints them as warnings).
  std::vector<std::string> warnings;
  bool dry_run = false;
};

Result<QuantizeReport> quantize_model(const QuantizeJob& job);

std::string format_text(const QuantizeReport& r, bool per_tensor);
nlohmann::json to_json(const QuantizeReport& r);

// The file type llama.cpp's loader reports for a model: general.file_type
// when present, else a guess from the most common tensor type marked with
// the GUESSED bit (1024). Used for COPY.
uint32_t loaded_file_type(const gguf::File& file, std::span<const size_t> order);

}  // namespace apex::pipeline
