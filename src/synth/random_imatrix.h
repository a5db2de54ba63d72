// A random importance matrix for a model: an entry for every matrix (2-D
// and 3-D expert tensors; norms skipped, as llama-imatrix records only the
// inputs of matrix products), with positive heavy-tailed values like real
// activation statistics (lognormal) and optionally some exact zeros (columns
// that never saw a token). Tests and benchmarks use it to drive the imatrix
// paths of the quantizers without a calibration run; the values carry no
// information about the model.
#pragma once

#include <cstdint>
#include <string>

#include "gguf/gguf.h"
#include "imatrix/imatrix.h"

namespace apex::synth {

struct RandomImatrixOptions {
  uint32_t seed = 1;
  int32_t chunk_count = 8;        // recorded as if chunk_count chunks ...
  int32_t chunk_size = 512;       // ... of chunk_size tokens were seen
  std::string dataset = "synthetic";
  float zero_fraction = 0.0f;     // share of values that are exactly 0
};

// In GGUF imatrix form (raw sums and per-matrix token counts), with the
// importance vectors computed (Entry::values) as a loaded file would have.
imatrix::Imatrix random_imatrix(const gguf::File& model, const RandomImatrixOptions& options = {});

}  // namespace apex::synth
