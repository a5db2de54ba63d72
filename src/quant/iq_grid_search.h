// Fast nearest-codebook-point search shared by the IQ1 and IQ2 fast paths.
//
// Both families snap a group of 8 codes that is not a codebook point to the
// candidate (from a precomputed list) with the least weighted squared error
//   d2 = 0;  for i in 0..7:  d2 += w[i] * diff_i * diff_i,
//   diff_i = scale * level(code_i) - x[i],
// the first candidate winning ties, errors of NaN or >= FLT_MAX never winning
// (the references start from best = FLT_MAX and keep `d2 < best`).
//
// A code takes one of three values, so each coordinate's term takes one of
// three values per group and scale. Terms holds them, computed with the
// reference's own expression; summing a candidate's terms from 0 in
// coordinate order then adds exactly the same floats in the same order as
// the reference, so d2 is bit-identical. first_best scores one candidate per
// SIMD lane (Highway, dispatched at run time) and reduces to the first
// minimum, which is the candidate the reference's scan keeps.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace apex::quant::iq_grid {

// Candidate lists are padded to a multiple of this many entries (the widest
// SIMD vector of floats) so that every vector load stays inside the list.
constexpr int kListPad = 16;

// terms[i][c]: coordinate i's contribution when the candidate's code there is
// c (c = 0..2; [i][3] is unused and kept 0).
struct Terms {
  alignas(16) float v[8][4];
};

// Builds Terms for magnitudes/values x, weights w, `scale` and the three
// levels (as floats) the codes stand for: (w * diff) * diff, the reference's
// grouping, with diff = scale * level - x.
inline void make_terms(const float* x, const float* w, float scale, const float* levels, Terms* t) {
  for (int i = 0; i < 8; ++i) {
    for (int c = 0; c < 3; ++c) {
      const float diff = scale * levels[c] - x[i];
      t->v[i][c] = w[i] * diff * diff;
    }
    t->v[i][3] = 0;
  }
}

// The candidate lists of a codebook's search tables, re-laid out for
// first_best: per key, the candidates' packed keys (code i in bits 2i..2i+1)
// and their point indices, each list padded with copies of its last entry
// (the search ignores positions past the list's length).
struct PaddedLists {
  std::vector<uint32_t> first;   // per key: offset of its list in keys / points
  std::vector<uint16_t> keys;    // packed keys of the candidates
  std::vector<uint16_t> points;  // point indices of the candidates
};

// first/count/candidates as in iq1::SearchTables / iq2::SearchTables;
// point_keys[p] is point p's packed key.
PaddedLists pad_lists(const std::vector<uint32_t>& first, const std::vector<uint16_t>& count,
                      const std::vector<uint16_t>& candidates, std::span<const uint16_t> point_keys);

// Position (0..n-1) of the first candidate with the least error below
// FLT_MAX, or -1 when every error is NaN or >= FLT_MAX. keys must be readable
// up to n rounded up to kListPad.
int first_best(const Terms& terms, const uint16_t* keys, int n);

// The same search done one candidate at a time (for tests and comparison).
int first_best_scalar(const Terms& terms, const uint16_t* keys, int n);

}  // namespace apex::quant::iq_grid
