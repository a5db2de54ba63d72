// Internals shared by the IQ4 reference (iq4.cpp), its fast path
// (iq4_simd.cpp) and their tests: the level table, the block layouts and the
// reference's nearest-level rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant::iq4 {

// The 16 reconstruction levels shared by IQ4_NL and IQ4_XS, fixed by ggml
// (kvalues_iq4nl in ggml-common.h).
inline constexpr int8_t kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

inline constexpr int kBlock = 32;         // values per scale
inline constexpr int kSuper = 256;        // IQ4_XS super-block
inline constexpr float kTinyGroup = 1e-15f;  // a block this small is stored as zeros
inline constexpr int kTries = 7;          // candidate scales on each side of the start

struct BlockNL {
  uint16_t d;
  uint8_t qs[kBlock / 2];
};
struct BlockXS {
  uint16_t d;
  uint16_t scales_h;           // 2 high bits of each 6-bit block scale
  uint8_t scales_l[kSuper / 64];  // 4 low bits of each block scale
  uint8_t qs[kSuper / 2];
};
static_assert(sizeof(BlockNL) == 18 && sizeof(BlockXS) == 136);

// Index of the level nearest to x (ties go up, as ggml's bisection does).
// NaN ends the bisection at the top: index 15.
inline int nearest_level(float x) {
  if (x <= kLevels[0]) return 0;
  if (x >= kLevels[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < kLevels[mid]) hi = mid; else lo = mid;
  }
  return x - kLevels[hi - 1] < kLevels[hi] - x ? hi - 1 : hi;
}

// nearest_level as 15 thresholds: t[k] (k = 1..15; t[0] unused) is the
// smallest float whose nearest level is k or above. nearest_level is
// monotone in x (each comparison it makes is), so for every non-NaN x
//   nearest_level(x) == number of k in 1..15 with t[k] <= x,
// which vector code evaluates with 15 compares instead of a bisection.
// Found once by bisecting over the floats with nearest_level itself.
const float* level_thresholds();

// Fast paths (iq4_simd.cpp): the reference's bytes, per Highway target.
void quantize_nl_rows(const float* src, BlockNL* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void quantize_xs_rows(const float* src, BlockXS* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
// Name of the Highway target the fast paths dispatch to now (for test logs).
const char* simd_target_name();

}  // namespace apex::quant::iq4
