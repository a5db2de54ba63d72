// How well calibration text covered a Mixture-of-Experts model: tokens per
// expert, experts that received none, and which matrices of an entry carry
// no data at all (what the quantizer's zero-expert policy acts on).
//
// Routed experts only see the tokens the router sends them; a short or
// one-sided calibration text can leave some experts with no tokens, and
// their importance vectors are then empty. llama-imatrix still writes such
// entries ("partial data"), with count 0 in the GGUF format and the neutral
// value 1 in the legacy .dat format, and llama-quantize hands the quantizer
// importance 1 for every column of such an expert (see docs/IMATRIX.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imatrix/imatrix.h"
#include "util/status.h"

namespace apex::imatrix {

// Per matrix (expert) of one entry: true when it has no calibration data.
//  - GGUF origin: its count is 0 (one count shared by every matrix counts
//    for all of them).
//  - legacy .dat origin (no per-expert counts in that format): every value of
//    its slice is 0, or every value is exactly 1 (llama-imatrix's marker for
//    an expert without tokens).
// n_mat: the tensor's matrices (ne2 for expert tensors, else 1); the entry
// must hold a multiple of n_mat values.
std::vector<bool> matrices_without_data(const Imatrix& m, const Entry& e, int64_t n_mat);

// What the quantizer does with a matrix (expert) of a tensor the imatrix has
// no data for (docs/IMATRIX.md):
//  - kPlain (default): quantize it as if no imatrix were given, the format's
//    own unweighted path; formats that cannot be made without importance
//    weights (IQ2_XXS, IQ2_XS, IQ1_S) get kOnes instead;
//  - kOnes: importance 1 for every column, what llama-quantize hands the
//    quantizer for a zero count (byte-identical to it for GGUF imatrices);
//  - kRefuse: stop with an error naming the tensor and the experts.
enum class ZeroDataPolicy { kPlain, kOnes, kRefuse };
const char* policy_name(ZeroDataPolicy p);
Result<ZeroDataPolicy> parse_policy(const std::string& name);

struct LayerCoverage {
  int layer = -1;
  std::string entry;            // the expert entry the counts come from
  std::vector<int64_t> tokens;  // per expert; -1 where the format does not record it (.dat)
  std::vector<int> zero;        // experts without data
};

struct Coverage {
  int64_t n_experts = 0;        // experts over all layers with expert entries
  int64_t n_zero = 0;           // of those, how many got no tokens
  std::vector<LayerCoverage> layers;  // layers with per-expert entries, by layer
  // Entries with some / all matrices without data (any tensor, not only experts).
  std::vector<std::string> partial_entries, empty_entries;
  bool counts_known = true;     // false for .dat origin

  // "96 experts in 6 layers: all received tokens (min 566, median 1970)" or
  // "... 3 without tokens (blk.2: 4 9; blk.5: 1)".
  std::string summary() const;
  // Per layer: tokens per expert and the experts without tokens.
  std::string table() const;
  nlohmann::json to_json() const;
};

// Experts are the matrices of 3-D entries (more than one count, or a .dat
// entry named *_exps*); the layer comes from the "blk.N." prefix. A layer's
// tokens per expert are taken from its first expert entry in name order
// (every expert tensor of a layer sees the same rows).
Coverage coverage(const Imatrix& m, int64_t n_expert_hint = 0);

}  // namespace apex::imatrix
