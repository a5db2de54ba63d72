// Internals shared by the IQ3 reference (iq3.cpp) and its fast path
// (iq3_simd.cpp): the block geometry, how the two formats' searches differ,
// and the block-fit function both implement.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/iq3_grids.h"

namespace apex::quant::iq3 {

inline constexpr int kBlock = 32;             // values per 4-bit block scale
inline constexpr int kGroups = kBlock / 4;    // grid points per block
inline constexpr int kMaxLevel = 7;           // levels 0..7 model the values 1, 3, ..., 15

// How the two formats' searches differ; everything else is shared.
struct Variant {
  Grid grid;
  int half_range;           // candidate scales (15 + 0.2 t) / max, t in [-half_range, half_range]
  bool start_on_grid;       // whether groups count as on-grid before any candidate is taken
  bool resnap_every_group;  // final pass: every group, or only those that were off the grid
};
inline constexpr Variant kXXS{Grid::kXXS, 15, true, false};
inline constexpr Variant kS{Grid::kS, 9, false, true};

// Fits one 32-value block of magnitudes xval (largest `max` > 0) to grid
// points times one scale; writes the levels to L and returns the scale.
// iq3.cpp's fit_block is the reference; this is the fast path, equal to it
// bit for bit (iq3_simd.cpp), dispatched to the best Highway target.
float fit_block_fast(const Variant& v, const SearchTables& t, const float* xval, const float* weight,
                     const float* waux, float max, int8_t* L);

// Name of the Highway target the fast path dispatches to now (for test logs).
const char* simd_target_name();

}  // namespace apex::quant::iq3

namespace apex::quant::iq3 {

// The candidate lists of SearchTables laid out for the fast path's vector
// distance loop: per off-grid key, the modelled values 2l + 1 of its
// candidates, coordinate-major: q[at[key] + i * stride[key] + c] is
// coordinate i of candidate c. stride[key] is the count rounded up to 16 (the
// widest vector), the padding repeats candidate 0 so every lane computes an
// ordinary value. Built on first use from search_tables(g).
struct SnapTables {
  std::vector<uint32_t> at;
  std::vector<uint16_t> stride;
  std::vector<int8_t> q;
};
const SnapTables& snap_tables(Grid g);

}  // namespace apex::quant::iq3
