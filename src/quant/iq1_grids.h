// Codebook of the 1-bit IQ formats (IQ1_S and IQ1_M).
//
// Both formats store a group of 8 weights as an 11-bit index into one
// codebook of 2048 points of {-1, 0, +1}^8 (the "iq1s grid"); the group's
// value is scale * (point + delta), with delta = +-1/8 chosen per group.
// A point is kept here packed: its code c_i in {0, 1, 2} (meaning c_i - 1)
// sits in bits 2i..2i+1 of a 16-bit key.
//
// The quantizer picks a code per weight, packs the 8 codes of a group into a
// key and needs either the point with that key or, when no point has it, a
// short list of nearby points to choose from. SearchTables holds both.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace apex::quant::iq1 {

constexpr int kPoints = 2048;
constexpr int kKeyLimit = 1 << 16;

// The packed points, in index order (the order the formats store indices in).
std::span<const uint16_t> codebook_points();

// Point p as 8 signed bytes -1/0/+1 in coordinate order, which is how ggml's
// dequantizers read it (iq1s_grid in ggml-common.h holds exactly these bytes).
std::span<const int8_t> codebook_values();

struct SearchTables {
  // Per key: the point index, or -1 when no point has that key.
  std::vector<int16_t> point_of;
  // Per key that is not a point (and has all codes <= 2): its candidate
  // points are candidates[first[key] .. first[key] + count[key]).
  std::vector<uint32_t> first;
  std::vector<uint16_t> count;
  std::vector<uint16_t> candidates;
  // codes[8 * p + i]: code i (0..2) of point p.
  std::vector<int8_t> codes;
};

// Built on first use (thread-safe, a few tens of milliseconds), then shared.
// The candidates of an off-codebook key are all points at the 3 smallest
// distinct squared distances from it, in order of distance, then point
// index: the lists ggml's iq2xs_init_impl builds for its IQ1 grid.
const SearchTables& search_tables();

}  // namespace apex::quant::iq1
