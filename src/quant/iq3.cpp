#include "quant/iq3.h"

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/iq3_grids.h"
#include "quant/iq3_internal.h"
#include "quant/rounding.h"
#include "util/check.h"

namespace apex::quant {
namespace {

using iq3::kBlock;
using iq3::kGroups;
using iq3::kMaxLevel;
using iq3::kS;
using iq3::kXXS;
using iq3::Variant;

constexpr int kSuper = 256;  // values per fp16 scale

struct BlockXXS {
  uint16_t d;
  uint8_t qs[kSuper / 4];  // one grid index per group of 4
  // Per block, a little-endian uint32: 4 x 7 sign bits, then the 4-bit scale
  // in the top nibble.
  uint8_t scales_signs[kSuper / kBlock * 4];
};
struct BlockS {
  uint16_t d;
  uint8_t qs[kSuper / 4];       // low 8 bits of each grid index
  uint8_t qh[kSuper / kBlock];  // 9th index bit: bit g of qh[b] for group g of block b
  uint8_t signs[kSuper / 8];    // one bit per value, set = negative
  uint8_t scales[kSuper / 64];  // two 4-bit block scales per byte, low nibble first
};
static_assert(sizeof(BlockXXS) == 98 && sizeof(BlockS) == 110);

// ggml's MAX macro: `a` unless `b` is larger. Spelled out because which
// operand survives a NaN decides the bytes.
inline float max_of(float a, float b) { return a > b ? a : b; }

// Level of value x at inverse scale id: the odd multiple 2l + 1 nearest x * id.
inline int level_of(float id, float x) {
  const int l = nearest_int(0.5f * (id * x - 1));
  return l < 0 ? 0 : (l > kMaxLevel ? kMaxLevel : l);
}

inline int key_of(const int8_t* L) { return L[0] | L[1] << 3 | L[2] << 6 | L[3] << 9; }

// Makes the 4 levels in L a grid point. They are kept when their key is one;
// otherwise the key's candidate point with the least weighted squared error
// at `scale` replaces them (the first one on ties, as ggml keeps it).
// Returns whether the levels were already on the grid.
bool snap_to_grid(const iq3::SearchTables& t, const float* xval, const float* w, float scale, int8_t* L) {
  const int key = key_of(L);
  if (t.point_of[key] >= 0) return true;
  const uint16_t* cand = t.candidates.data() + t.first[key];
  float best_d2 = FLT_MAX;
  int best = -1;
  for (int c = 0; c < t.count[key]; ++c) {
    const int8_t* pl = &t.levels[4 * cand[c]];
    float d2 = 0;
    for (int i = 0; i < 4; ++i) {
      const float diff = scale * static_cast<float>(2 * pl[i] + 1) - xval[i];
      d2 += w[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      best = cand[c];
    }
  }
  // Every distance is inf or NaN only for absurd inputs (|x| near FLT_MAX),
  // where ggml gives up; take the nearest point rather than fail.
  if (best < 0) best = cand[0];
  for (int i = 0; i < 4; ++i) L[i] = t.levels[4 * best + i];
  return false;
}

// Weighted least-squares scale for levels L: sum w x q / sum w q^2, q = 2l + 1.
struct Moments {
  float sumqx = 0, sumq2 = 0;
};
Moments moments(const float* xval, const float* weight, const int8_t* L) {
  Moments m;
  for (int i = 0; i < kBlock; ++i) {
    const float q = static_cast<float>(2 * L[i] + 1);
    m.sumqx += weight[i] * xval[i] * q;
    m.sumq2 += weight[i] * q * q;
  }
  return m;
}

// Fits one 32-value block of magnitudes xval (largest `max` > 0) to grid
// points times one scale, the way ggml searches: try scales that map `max`
// near the top level 15, snap every group to the grid at each, keep the
// best weighted fit; then, if that left groups that had to be moved onto
// the grid, re-snap at the chosen scale and refit the scale once.
// Writes the levels to L and returns the scale.
float fit_block(const Variant& v, const iq3::SearchTables& t, const float* xval, const float* weight,
                const float* waux, float max, int8_t* L) {
  std::memset(L, 0, kBlock);
  bool on_grid[kGroups];
  for (bool& g : on_grid) g = v.start_on_grid;
  float scale = max / (2 * kMaxLevel + 1);
  float best = 0;
  int8_t trial[kBlock];
  bool trial_on_grid[kGroups];
  for (int step = -v.half_range; step <= v.half_range; ++step) {
    const float id = (15.0f + static_cast<float>(step) * 0.2f) / max;
    const float trial_scale = 1 / id;
    for (int k = 0; k < kGroups; ++k) {
      for (int i = 0; i < 4; ++i) trial[4 * k + i] = static_cast<int8_t>(level_of(id, xval[4 * k + i]));
      trial_on_grid[k] = snap_to_grid(t, xval + 4 * k, waux + 4 * k, trial_scale, trial + 4 * k);
    }
    const Moments m = moments(xval, weight, trial);
    if (m.sumq2 > 0 && m.sumqx * m.sumqx > best * m.sumq2) {
      scale = m.sumqx / m.sumq2;
      best = scale * m.sumqx;
      std::memcpy(L, trial, kBlock);
      std::memcpy(on_grid, trial_on_grid, sizeof(on_grid));
    }
  }

  bool any_off_grid = false;
  for (bool g : on_grid) any_off_grid |= !g;
  if (any_off_grid && scale > 0) {
    const float id = 1 / scale;
    for (int k = 0; k < kGroups; ++k) {
      if (on_grid[k] && !v.resnap_every_group) continue;
      for (int i = 0; i < 4; ++i) L[4 * k + i] = static_cast<int8_t>(level_of(id, xval[4 * k + i]));
      snap_to_grid(t, xval + 4 * k, waux + 4 * k, scale, L + 4 * k);
    }
    const Moments m = moments(xval, weight, L);
    if (m.sumq2 > 0) scale = m.sumqx / m.sumq2;
  }
  return scale;
}

// The block-fit function a super-block quantizer uses: fit_block (the
// reference) or iq3::fit_block_fast (equal, faster).
using FitBlock = float (*)(const Variant&, const iq3::SearchTables&, const float*, const float*, const float*, float,
                           int8_t*);

// Importance of each value: the imatrix scaled by the value's magnitude
// relative to the super-block's spread, or the squared value without one.
// waux (its square root) weighs the per-group grid choice.
void block_weights(const float* xb, const float* qw, float sigma2, float* weight, float* waux) {
  if (qw != nullptr) {
    for (int i = 0; i < kBlock; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
  } else {
    for (int i = 0; i < kBlock; ++i) weight[i] = xb[i] * xb[i];
  }
  for (int i = 0; i < kBlock; ++i) waux[i] = std::sqrt(weight[i]);
}

float super_block_sigma2(const float* x) {
  float sumx2 = 0;
  for (int i = 0; i < kSuper; ++i) sumx2 += x[i] * x[i];
  return 2 * sumx2 / kSuper;
}

// Grid index of levels that are known to be a grid point.
int point_index(const iq3::SearchTables& t, const int8_t* L) {
  const int p = t.point_of[key_of(L)];
  APEX_CHECK(p >= 0, "iq3: levels {} {} {} {} are not a grid point", L[0], L[1], L[2], L[3]);
  return p;
}

// The 4-bit block scale code: block scale ~ d * (2 l + 1).
uint8_t block_scale_code(float id, float scale) {
  const int l = nearest_int(0.5f * (id * scale - 1));
  return static_cast<uint8_t>(l < 0 ? 0 : (l > 15 ? 15 : l));
}

template <FitBlock Fit>
void quantize_block_xxs(const float* x, const float* qw, BlockXXS& out) {
  const iq3::SearchTables& t = iq3::search_tables(iq3::Grid::kXXS);
  std::memset(&out, 0, sizeof(out));
  const float sigma2 = super_block_sigma2(x);
  uint32_t scales_signs[kSuper / kBlock] = {};
  float scales[kSuper / kBlock];
  float max_scale = 0;
  for (int ib = 0; ib < kSuper / kBlock; ++ib) {
    const float* xb = x + ib * kBlock;
    float weight[kBlock], waux[kBlock], xval[kBlock];
    int8_t L[kBlock];
    block_weights(xb, qw ? qw + ib * kBlock : nullptr, sigma2, weight, waux);
    // Only 7 sign bits are stored per 8 values, the eighth making the count
    // of negatives even. With an odd count, the value that costs least
    // (smallest weight * x^2) is quantized with the wrong sign: its magnitude
    // is fitted as a negative number.
    uint8_t signs[4];
    for (int k = 0; k < 4; ++k) {
      const float* x8 = xb + 8 * k;
      float* v8 = xval + 8 * k;
      unsigned s = 0;
      for (int i = 0; i < 8; ++i) {
        if (x8[i] >= 0) {
          v8[i] = x8[i];
        } else {
          v8[i] = -x8[i];
          s |= 1u << i;
        }
      }
      if (std::popcount(s) % 2 != 0) {
        const float* w8 = weight + 8 * k;
        int cheapest = 0;
        float least = w8[0] * x8[0] * x8[0];
        for (int i = 1; i < 8; ++i) {
          const float cost = w8[i] * x8[i] * x8[i];
          if (cost < least) {
            least = cost;
            cheapest = i;
          }
        }
        v8[cheapest] = -v8[cheapest];
        s ^= 1u << cheapest;
      }
      signs[k] = static_cast<uint8_t>(s & 127);
    }
    float max = xval[0];
    for (int i = 1; i < kBlock; ++i) max = max_of(max, xval[i]);
    if (max < 1e-8f) {  // an empty block: index 0, no signs, scale 0
      scales[ib] = 0;
      continue;
    }
    float scale = Fit(kXXS, t, xval, weight, waux, max, L);
    // Not expected (the odd-sign value aside, magnitudes are non-negative),
    // but ggml flips the signs to keep the stored scale unsigned; so do we.
    if (scale < 0) {
      scale = -scale;
      for (uint8_t& s : signs) s = static_cast<uint8_t>(~s & 127);
    }
    for (int k = 0; k < kGroups; ++k) out.qs[kGroups * ib + k] = static_cast<uint8_t>(point_index(t, L + 4 * k));
    scales_signs[ib] = signs[0] | signs[1] << 7 | signs[2] << 14 | static_cast<uint32_t>(signs[3]) << 21;
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }
  if (max_scale == 0) {  // nothing to store: all bytes zero
    std::memset(&out, 0, sizeof(out));
    return;
  }
  const float d = max_scale / 31;
  out.d = fp32_to_fp16(d * 1.0125f);  // ggml's fudge factor on the stored scale
  const float id = 1 / d;
  for (int ib = 0; ib < kSuper / kBlock; ++ib) {
    const uint32_t v = scales_signs[ib] | static_cast<uint32_t>(block_scale_code(id, scales[ib])) << 28;
    for (int j = 0; j < 4; ++j) out.scales_signs[4 * ib + j] = static_cast<uint8_t>(v >> 8 * j);
  }
}

template <FitBlock Fit>
void quantize_block_s(const float* x, const float* qw, BlockS& out) {
  const iq3::SearchTables& t = iq3::search_tables(iq3::Grid::kS);
  std::memset(&out, 0, sizeof(out));
  const float sigma2 = super_block_sigma2(x);
  float scales[kSuper / kBlock];
  float max_scale = 0;
  // ggml advances its index and sign cursors only past blocks it stores: an
  // all-zero block stores none, so the following blocks' indices and signs
  // land one block early and the tail stays zero, while their 9th index bits
  // and scales stay in place. Its dequantizer reads by block position, so
  // such super-blocks decode misaligned; the bytes are what we promise to match.
  int qs_at = 0, signs_at = 0;
  for (int ib = 0; ib < kSuper / kBlock; ++ib) {
    const float* xb = x + ib * kBlock;
    float weight[kBlock], waux[kBlock], xval[kBlock];
    int8_t L[kBlock];
    block_weights(xb, qw ? qw + ib * kBlock : nullptr, sigma2, weight, waux);
    uint8_t signs[4];
    for (int k = 0; k < 4; ++k) {
      unsigned s = 0;
      for (int i = 0; i < 8; ++i) {
        const float v = xb[8 * k + i];
        if (v >= 0) {
          xval[8 * k + i] = v;
        } else {
          xval[8 * k + i] = -v;
          s |= 1u << i;
        }
      }
      signs[k] = static_cast<uint8_t>(s);
    }
    float max = xval[0];
    for (int i = 1; i < kBlock; ++i) max = max_of(max, xval[i]);
    if (max == 0) {
      scales[ib] = 0;
      continue;
    }
    float scale = Fit(kS, t, xval, weight, waux, max, L);
    if (scale < 0) {
      scale = -scale;
      for (uint8_t& s : signs) s = static_cast<uint8_t>(~s);
    }
    for (int k = 0; k < kGroups; ++k) {
      const int p = point_index(t, L + 4 * k);
      out.qs[qs_at + k] = static_cast<uint8_t>(p & 255);
      out.qh[ib] = static_cast<uint8_t>(out.qh[ib] | (p >> 8) << k);
    }
    qs_at += kGroups;
    std::memcpy(out.signs + signs_at, signs, 4);
    signs_at += 4;
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  out.d = fp32_to_fp16(d * 1.033f);  // ggml's fudge factor on the stored scale
  const float id = 1 / d;
  for (int ib = 0; ib < kSuper / kBlock; ib += 2) {
    out.scales[ib / 2] =
        static_cast<uint8_t>(block_scale_code(id, scales[ib]) | block_scale_code(id, scales[ib + 1]) << 4);
  }
}

template <typename Block, void (*QuantizeBlock)(const float*, const float*, Block&)>
size_t quantize_rows(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const int64_t nb = n_per_row / kSuper;
  auto* out = static_cast<Block*>(dst);
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      QuantizeBlock(src + r * n_per_row + b * kSuper, imatrix ? imatrix + b * kSuper : nullptr, out[r * nb + b]);
    }
  }
  return static_cast<size_t>(nrows * nb) * sizeof(Block);
}

// Writes 8 values: grid bytes of one point (4) and the next (4), times db,
// negated where the sign bit is set.
inline void put_pair(float db, const uint8_t* g0, const uint8_t* g1, unsigned signs, float* y) {
  for (int j = 0; j < 4; ++j) {
    y[j] = db * g0[j] * ((signs >> j) & 1 ? -1.f : 1.f);
    y[j + 4] = db * g1[j] * ((signs >> (j + 4)) & 1 ? -1.f : 1.f);
  }
}

bool scales_finite(const uint8_t* data, size_t nbytes, size_t block_bytes) {
  for (size_t off = 0; off + block_bytes <= nbytes; off += block_bytes) {
    uint16_t d;
    std::memcpy(&d, data + off, 2);
    if ((d & 0x7c00) == 0x7c00) return false;  // inf or NaN
  }
  return true;
}

}  // namespace

size_t quantize_iq3_xxs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_rows<BlockXXS, quantize_block_xxs<fit_block>>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_iq3_xxs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_rows<BlockXXS, quantize_block_xxs<iq3::fit_block_fast>>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_iq3_s_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_rows<BlockS, quantize_block_s<fit_block>>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_iq3_s(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_rows<BlockS, quantize_block_s<iq3::fit_block_fast>>(src, dst, nrows, n_per_row, imatrix);
}

void dequantize_iq3_xxs(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockXXS*>(src);
  const uint8_t* grid = iq3::point_bytes(iq3::Grid::kXXS).data();
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const float d = fp16_to_fp32(in[b].d);
    for (int ib = 0; ib < kSuper / kBlock; ++ib) {
      uint32_t v = 0;
      for (int j = 0; j < 4; ++j) v |= static_cast<uint32_t>(in[b].scales_signs[4 * ib + j]) << 8 * j;
      // Block scale d * (2s + 1) / 4: the grid bytes are 4x the levels.
      const float db = d * (0.5f + static_cast<float>(v >> 28)) * 0.5f;
      const uint8_t* qs = in[b].qs + kGroups * ib;
      for (int l = 0; l < 4; ++l) {
        const unsigned seven = (v >> 7 * l) & 127;
        const unsigned signs = seven | (std::popcount(seven) & 1u) << 7;
        put_pair(db, grid + 4 * qs[2 * l], grid + 4 * qs[2 * l + 1], signs, dst);
        dst += 8;
      }
    }
  }
}

void dequantize_iq3_s(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockS*>(src);
  const uint8_t* grid = iq3::point_bytes(iq3::Grid::kS).data();
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const BlockS& blk = in[b];
    const float d = fp16_to_fp32(blk.d);
    for (int ib = 0; ib < kSuper / kBlock; ++ib) {
      const int code = (blk.scales[ib / 2] >> 4 * (ib % 2)) & 0xf;
      const float db = d * static_cast<float>(1 + 2 * code);
      for (int l = 0; l < 4; ++l) {
        const int g = 2 * l;
        const int p0 = blk.qs[kGroups * ib + g] | ((blk.qh[ib] >> g) & 1) << 8;
        const int p1 = blk.qs[kGroups * ib + g + 1] | ((blk.qh[ib] >> (g + 1)) & 1) << 8;
        put_pair(db, grid + 4 * p0, grid + 4 * p1, blk.signs[4 * ib + l], dst);
        dst += 8;
      }
    }
  }
}

bool validate_iq3_xxs(const void* data, size_t nbytes) {
  return scales_finite(static_cast<const uint8_t*>(data), nbytes, sizeof(BlockXXS));
}
bool validate_iq3_s(const void* data, size_t nbytes) {
  return scales_finite(static_cast<const uint8_t*>(data), nbytes, sizeof(BlockS));
}

}  // namespace apex::quant
