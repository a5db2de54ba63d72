// llama.cpp's own imatrix reader, common_imatrix_load from the oracle's
// libllama-common.so (a C++ entry point: the struct below mirrors
// common/imatrix-loader.h of the pinned build, commit de3ff81). Tests use
// it to prove apex reads and writes both imatrix formats the way
// llama-quantize sees them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace apex::oracle {

struct CommonImatrixEntry {  // common_imatrix_entry
  std::vector<float> sums;
  std::vector<int64_t> counts;
};

struct CommonImatrix {  // common_imatrix
  std::map<std::string, CommonImatrixEntry> entries;
  std::vector<std::string> datasets;
  int32_t chunk_count = 0;
  int32_t chunk_size = 0;
  bool is_legacy = false;
  bool has_metadata = false;
};

// common_imatrix_load(path, out); false when llama.cpp cannot read the file.
bool imatrix_load(const std::string& path, CommonImatrix& out);

// What tools/quantize/quantize.cpp (load_imatrix) then hands to
// llama_model_quantize: per-matrix means for GGUF (1 for a matrix without
// data), sums / ncall for .dat (sums as they are when ncall <= 0).
std::unordered_map<std::string, std::vector<float>> quantize_imatrix_data(const CommonImatrix& m);

}  // namespace apex::oracle
