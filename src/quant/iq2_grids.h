// Codebooks of the 2-bit IQ formats (IQ2_XXS, IQ2_XS, IQ2_S).
//
// These formats store a group of 8 weights as one index into a codebook of
// 8-dimensional points whose coordinates take one of three magnitudes
// (codes 0, 1, 2: the quantizer models them as 1, 3, 5 times the scale, the
// dequantizer reads them as bytes 8, 25, 43), plus separate sign bits.
// The codebooks are fixed by ggml; a codebook point is kept here in its
// packed form: code i of the point sits in bits 2i..2i+1 of a 16-bit "key".
//
// The quantizer rounds a group to 8 codes, packs them into a key and needs
// the codebook point for that key, or, when the key is not a codebook point,
// a short list of the nearest points to pick from. SearchTables holds both,
// built once per codebook on first use.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace apex::quant::iq2 {

enum class Codebook { kXXS, kXS, kS };  // 256, 512 and 1024 points

constexpr int kKeyLimit = 1 << 16;

// The packed points of a codebook, in index order (the order the format
// stores indices in).
std::span<const uint16_t> codebook_points(Codebook cb);

// Decoded magnitudes for each point: 8 bytes per point, each 8, 25 or 43,
// which is how ggml's dequantizers read the grids (iq2xxs_grid, ... in
// ggml-common.h hold exactly these bytes).
std::span<const uint8_t> codebook_magnitudes(Codebook cb);

// The sign byte for 7 stored sign bits: bit 7 makes the count of set bits
// even (IQ2_XXS and IQ2_XS force an even number of negative values per group
// of 8, so the eighth sign is implied).
constexpr uint8_t expand_signs(unsigned seven_bits) {
  const unsigned s = seven_bits & 127u;
  return static_cast<uint8_t>(s | ((static_cast<unsigned>(__builtin_popcount(s)) & 1u) << 7));
}

struct SearchTables {
  // Per key: the point index, or -1 when the key is not a codebook point.
  std::vector<int16_t> point_of;
  // Per key that is not a point (and has all codes <= 2): its candidate
  // points are candidates[first[key] .. first[key] + count[key]).
  std::vector<uint32_t> first;
  std::vector<uint16_t> count;
  std::vector<uint16_t> candidates;
  // codes[8 * p + i]: code i (0..2) of point p.
  std::vector<int8_t> codes;
};

// Built on first use (thread-safe), then shared. The candidates of an
// off-codebook key are the points at the `nearest` smallest distinct squared
// distances from it (2 for IQ2_XXS and IQ2_XS, 1 for IQ2_S), in order of
// distance, then point index: the lists ggml's iq2xs_init_impl builds.
const SearchTables& search_tables(Codebook cb);

}  // namespace apex::quant::iq2
