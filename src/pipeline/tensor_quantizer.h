// Converts one tensor's data to another type in bounded memory: the source
// rows are read in slabs, converted to float, quantized by all threads in
// parallel, validated the way llama.cpp validates every chunk, and handed to
// a sink (the GGUF writer) while the next slab is being computed.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "quant/type_id.h"
#include "util/status.h"

namespace apex::pipeline {

struct TensorJob {
  std::string name;                // for error messages
  quant::TypeId src_type = quant::TypeId::F32;
  quant::TypeId dst_type = quant::TypeId::F32;
  std::span<const uint8_t> src;    // the whole source tensor
  int64_t n_per_row = 0;           // ne[0]
  int64_t rows_per_matrix = 0;     // ne[1]: an expert's rows share one imatrix slice
  int64_t n_rows = 0;              // ne[1] * ne[2] * ne[3]
  // Null, or n_per_row floats per matrix (ne[2]*ne[3] matrices, e.g. experts).
  const float* imatrix = nullptr;
  // Empty, or one flag per matrix: a set flag quantizes that matrix without
  // importance weights although `imatrix` is given (an expert the
  // calibration text never reached; see imatrix::ZeroDataPolicy).
  std::span<const uint8_t> plain_matrices;
};

struct ConvertOptions {
  int threads = 1;
  size_t slab_bytes = 32u << 20;  // float bytes of source rows converted at once
  // The source is a read-only mmap: drop its pages once converted.
  bool release_source = true;
};

using ByteSink = std::function<Status(std::span<const uint8_t>)>;
using RowsDone = std::function<void(int64_t rows)>;

// Writes exactly n_rows * row_bytes(dst_type, n_per_row) bytes to `sink`.
// Errors: non-finite source values (naming tensor and element), a destination
// type apex cannot write, a quantized result that fails validation.
Status convert_tensor(const TensorJob& job, const ConvertOptions& opts, const ByteSink& sink,
                      const RowsDone& progress = {});

}  // namespace apex::pipeline
