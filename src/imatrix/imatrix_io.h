// Internal to the imatrix module: the per-format readers and the shared
// normalisation step. Users go through imatrix.h.
#pragma once

#include <string>

#include "imatrix/imatrix.h"

namespace apex::imatrix::detail {

Result<Imatrix> load_dat(const std::string& path);
Result<Imatrix> load_gguf(const std::string& path);

// llama_model_quantize rejects an imatrix holding NaN or infinity.
Status check_finite(const std::string& path, const Entry& e);

}  // namespace apex::imatrix::detail
