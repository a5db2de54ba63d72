// Grids of the 3-bit IQ formats (IQ3_XXS: 256 points, IQ3_S: 512 points).
//
// Both formats store a group of 4 weights as one index into a grid of
// 4-dimensional points. Every coordinate of a point is one of 8 levels
// l = 0..7; the quantizer models level l as (2l + 1) times the block scale,
// and the dequantizers read it back as a byte (see point_bytes). A point is
// kept here as a 12-bit "key" with level i in bits 3i..3i+2, so a key
// written in octal shows the four levels, last coordinate first.
//
// The quantizer rounds a group to 4 levels, packs them into a key and needs
// the grid index of that key or, when the key is not a grid point, a short
// list of nearby points to pick from. SearchTables holds both, built once per
// grid on first use.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace apex::quant::iq3 {

enum class Grid { kXXS, kS };  // 256 and 512 points

constexpr int kKeyLimit = 1 << 12;  // 4 coordinates x 3 bits

// The keys of a grid, in index order (the order the formats store indices in).
std::span<const uint16_t> grid_keys(Grid g);

// Dequantization bytes: 4 per point, coordinate i of point p at [4p + i].
// IQ3_S reads level l as 2l + 1; IQ3_XXS reads it as 4(2l + 1) except level 7,
// which is 62 rather than 60 (ggml's iq3xxs_grid / iq3s_grid hold exactly
// these bytes).
std::span<const uint8_t> point_bytes(Grid g);

struct SearchTables {
  // Per key: the point index, or -1 when the key is not a grid point.
  std::vector<int16_t> point_of;
  // Per key that is not a point: its candidate points are
  // candidates[first[key] .. first[key] + count[key]).
  std::vector<uint32_t> first;
  std::vector<uint16_t> count;
  std::vector<uint16_t> candidates;
  // levels[4 * p + i]: level (0..7) of coordinate i of point p.
  std::vector<int8_t> levels;
};

// Built on first use (thread-safe), then shared. The candidates of an
// off-grid key are the points at its `nearest` smallest distinct squared
// distances (2 for IQ3_XXS, 3 for IQ3_S), ordered by distance, then by point
// index: the lists ggml's iq3xs_init_impl builds, in the same order (the
// quantizer keeps the first of equally good candidates, so order matters).
const SearchTables& search_tables(Grid g);

}  // namespace apex::quant::iq3
