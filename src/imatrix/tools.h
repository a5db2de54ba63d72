// Working with imatrix files: per-entry statistics (apex imatrix info) and
// combining several files (apex imatrix merge), by llama-imatrix's --in-file
// rule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imatrix/imatrix.h"
#include "util/status.h"

namespace apex::imatrix {

struct EntryStats {
  std::string name;
  int64_t ne0 = 0;        // values per matrix (the weight's row length)
  int64_t n_mat = 0;      // matrices with their own count (experts); 1 for .dat
  int64_t count_min = 0, count_max = 0;  // rows per matrix (GGUF) or ncall (.dat)
  int64_t mats_without_data = 0;         // matrices with count 0 (GGUF only)
  double value_min = 0, value_max = 0, value_mean = 0;  // the importance weights
};

std::vector<EntryStats> entry_stats(const Imatrix& m);

// Adds imatrices the way llama-imatrix combines --in-file inputs: GGUF sums
// and counts add matrix by matrix (a single count spreads over every matrix
// of an entry that has several); a .dat entry counts as sums = stored value
// x chunk_size and count = ncall x chunk_size. Datasets are concatenated in
// input order; the chunk count is the largest count over chunk_size. Entries
// present in only some inputs are kept. Error (naming the input and tensor)
// when an entry's number of values or matrices differs between inputs.
// `names` are the inputs' paths, for the messages.
Result<Imatrix> merge(const std::vector<Imatrix>& inputs, const std::vector<std::string>& names,
                      int32_t chunk_size);

}  // namespace apex::imatrix
