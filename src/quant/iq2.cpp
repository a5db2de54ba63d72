#include "quant/iq2.h"

#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/iq2_grids.h"
#include "quant/iq2_sweep.h"
#include "quant/iq_grid_search.h"
#include "quant/k_quants_search.h"
#include "quant/rounding.h"
#include "util/check.h"

namespace apex::quant {
namespace {

using iq2::Codebook;
using iq2::SearchTables;

constexpr int kSuper = 256;  // weights per super-block (one fp16 scale)
constexpr int kOctet = 8;    // weights per codebook point
constexpr int kMaxCode = 2;  // codes 0..2 stand for magnitudes 1, 3, 5
// The sub-block scales are stored as 4-bit l, meaning (2l + 1) / 2 steps of
// d = max_scale / 31: the largest scale lands on l = 15.
constexpr float kScaleSteps = 31;
// Groups whose largest magnitude is below these are stored as zeros
// (ggml's GROUP_MAX_EPS and GROUP_MAX_EPS_IQ2_S).
constexpr float kTinyGroup = 1e-15f;
constexpr float kTinyGroupS = 1e-8f;

struct BlockXXS {
  uint16_t d;
  // Per 32 weights, two little-endian words: four 8-bit point indices, then
  // four 7-bit sign fields (bits 0..27) and the 4-bit scale (bits 28..31).
  uint16_t qs[kSuper / 8];
};
struct BlockXS {
  uint16_t d;
  uint16_t qs[kSuper / 8];        // per 8 weights: 9-bit point index | 7 sign bits << 9
  uint8_t scales[kSuper / 32];    // two 4-bit scales per 32 weights (low nibble first)
};
struct BlockS {
  uint16_t d;
  uint8_t qs[kSuper / 8];         // low 8 bits of each 10-bit point index
  uint8_t signs[kSuper / 8];      // 8 sign bits per 8 weights
  uint8_t qh[kSuper / 32];        // high 2 bits of the indices, four per byte
  uint8_t scales[kSuper / 32];
};
static_assert(sizeof(BlockXXS) == 66 && sizeof(BlockXS) == 74 && sizeof(BlockS) == 82);

inline float max_of(float a, float b) { return a > b ? a : b; }  // NaN in b wins, as in ggml

// Rounds 8 magnitudes to codes for the inverse scale `id` (value ~ (2c+1) /
// id) and packs them into a codebook key.
uint16_t round_octet(const float* ax, float id, int8_t* codes) {
  uint16_t key = 0;
  for (int i = 0; i < kOctet; ++i) {
    int l = nearest_int(0.5f * (id * ax[i] - 1));
    l = l < 0 ? 0 : (l > kMaxCode ? kMaxCode : l);
    codes[i] = static_cast<int8_t>(l);
    key = static_cast<uint16_t>(key | (l << (2 * i)));
  }
  return key;
}

uint16_t key_of(const int8_t* codes) {
  uint16_t key = 0;
  for (int i = 0; i < kOctet; ++i) key = static_cast<uint16_t>(key | ((codes[i] & 3) << (2 * i)));
  return key;
}

// For a key that is not a codebook point, picks among its precomputed nearby
// points the one with the least weighted squared error at `scale` and
// replaces `codes` by that point's codes. The first of equally good points
// wins, in the list's order (ggml's iq2_find_best_neighbour).
void snap_to_neighbour(const SearchTables& t, uint16_t key, const float* ax, const float* w, float scale,
                       int8_t* codes) {
  const uint16_t* cand = t.candidates.data() + t.first[key];
  const int n = t.count[key];
  APEX_CHECK(n > 0, "IQ2 key {} has no neighbour list", key);
  float best = FLT_MAX;
  int best_point = cand[0];  // only kept when every error is NaN, where ggml aborts
  for (int c = 0; c < n; ++c) {
    const int8_t* pc = &t.codes[8 * cand[c]];
    float d2 = 0;
    for (int i = 0; i < kOctet; ++i) {
      const float q = static_cast<float>(2 * pc[i] + 1);
      const float diff = scale * q - ax[i];
      d2 += w[i] * diff * diff;
    }
    if (d2 < best) {
      best = d2;
      best_point = cand[c];
    }
  }
  std::memcpy(codes, &t.codes[8 * best_point], kOctet);
}

// Rounds an octet and moves it onto the codebook. Returns whether the
// rounded codes already were a codebook point.
// `snap` is the neighbour search: snap_to_neighbour in the reference, the
// SIMD search (same choice) in the fast path.
template <class Snap>
bool round_onto_codebook(const SearchTables& t, const Snap& snap, const float* ax, const float* waux, float id,
                         float scale, int8_t* codes) {
  const uint16_t key = round_octet(ax, id, codes);
  if (t.point_of[key] >= 0) return true;
  snap(key, ax, waux, scale, codes);
  return false;
}

// The reference's neighbour search.
struct ScanNeighbours {
  const SearchTables& t;
  void operator()(uint16_t key, const float* ax, const float* w, float scale, int8_t* codes) const {
    snap_to_neighbour(t, key, ax, w, scale, codes);
  }
};

// The point index of codes that lie on the codebook. ggml aborts if they do
// not (possible only for non-finite input); point 0 keeps us running.
int point_index(const SearchTables& t, const int8_t* codes) {
  const int p = t.point_of[key_of(codes)];
  return p >= 0 ? p : 0;
}

// Weighted least-squares terms of magnitudes `ax` against levels 2c + 1.
void fit_terms(const float* ax, const float* w, const int8_t* codes, int n, float* sumqx, float* sumq2) {
  float qx = 0, q2 = 0;
  for (int i = 0; i < n; ++i) {
    const float q = static_cast<float>(2 * codes[i] + 1);
    qx += w[i] * ax[i] * q;
    q2 += w[i] * q * q;
  }
  *sumqx = qx;
  *sumq2 = q2;
}

// Splits 8 values into magnitudes and sign bits. With `even_negatives` the
// format stores only 7 sign bits and implies the eighth, so an odd count of
// negatives is made even by flipping the sign of the element where that
// costs least (smallest w * x^2); its magnitude becomes negative instead.
uint8_t split_signs(const float* x, const float* w, bool even_negatives, float* ax) {
  uint8_t s = 0;
  int negatives = 0;
  for (int i = 0; i < kOctet; ++i) {
    if (x[i] >= 0) {
      ax[i] = x[i];
    } else {
      ax[i] = -x[i];
      ++negatives;
      s = static_cast<uint8_t>(s | (1u << i));
    }
  }
  if (!even_negatives) return s;
  if (negatives % 2 != 0) {
    int imin = 0;
    float min = w[0] * x[0] * x[0];
    for (int i = 1; i < kOctet; ++i) {
      const float cost = w[i] * x[i] * x[i];
      if (cost < min) {
        min = cost;
        imin = i;
      }
    }
    ax[imin] = -ax[imin];
    s = static_cast<uint8_t>(s ^ (1u << imin));
  }
  return s & 127;
}

// The 4-bit code of a sub-block scale against the super-block step d.
int scale_code(float scale, float inv_d) {
  const int l = nearest_int(0.5f * (inv_d * scale - 1));
  return l < 0 ? 0 : (l > 15 ? 15 : l);
}

// ---- IQ2_XXS: groups of 32 -------------------------------------------------

template <class Snap>
void quantize_block_xxs(const float* x, const float* imatrix, const SearchTables& t, const Snap& snap,
                        BlockXXS* out) {
  constexpr int kGroup = 32;
  constexpr int kOctets = kGroup / kOctet;
  uint32_t words[kSuper / kGroup * 2] = {};
  float scales[kSuper / kGroup];
  out->d = fp32_to_fp16(0.f);

  float sumx2 = 0;
  for (int i = 0; i < kSuper; ++i) sumx2 += x[i] * x[i];
  const float sigma2 = sumx2 / kSuper;

  float max_scale = 0;
  for (int ib = 0; ib < kSuper / kGroup; ++ib) {
    const float* xb = x + kGroup * ib;
    const float* qw = imatrix + kGroup * ib;
    float weight[kGroup], waux[kGroup], ax[kGroup];
    int8_t L[kGroup], Laux[kGroup];
    uint8_t signs[kOctets];
    for (int i = 0; i < kGroup; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    for (int i = 0; i < kGroup; ++i) waux[i] = std::sqrt(weight[i]);
    for (int k = 0; k < kOctets; ++k) {
      signs[k] = split_signs(xb + kOctet * k, weight + kOctet * k, true, ax + kOctet * k);
    }
    float max = ax[0];
    for (int i = 1; i < kGroup; ++i) max = max_of(max, ax[i]);
    scales[ib] = 0;
    if (max < kTinyGroup) continue;

    // Start from the best plain scale for codes 0..3 (one level more than
    // the codebook has), then try 13 inverse scales around the one mapping
    // that scale's top level onto the top magnitude, snapping each rounding
    // onto the codebook and keeping the best least-squares fit.
    uint8_t start_codes[kGroup];
    float scale = kq::fit_unsigned(ax, weight, kGroup, kMaxCode + 2, start_codes);
    for (int i = 0; i < kGroup; ++i) L[i] = static_cast<int8_t>(start_codes[i]);
    const float eff_max = scale * (kMaxCode + 1);
    if (eff_max <= 0) continue;
    float best = 0;
    for (int is = -6; is <= 6; ++is) {
      const float id = (2 * (kMaxCode + 1) - 1 + static_cast<float>(is) * 0.1f) / eff_max;
      const float this_scale = 1 / id;
      for (int k = 0; k < kOctets; ++k) {
        round_onto_codebook(t, snap, ax + kOctet * k, waux + kOctet * k, id, this_scale, Laux + kOctet * k);
      }
      float sumqx, sumq2;
      fit_terms(ax, weight, Laux, kGroup, &sumqx, &sumq2);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2;
        best = scale * sumqx;
        std::memcpy(L, Laux, kGroup);
      }
    }
    // Round once more with the winning scale and refit it.
    if (scale > 0) {
      const float id = 1 / scale;
      for (int k = 0; k < kOctets; ++k) {
        round_onto_codebook(t, snap, ax + kOctet * k, waux + kOctet * k, id, scale, L + kOctet * k);
      }
      float sumqx, sumq2;
      fit_terms(ax, weight, L, kGroup, &sumqx, &sumq2);
      if (sumq2 > 0) scale = sumqx / sumq2;
    }
    // Scales are stored unsigned; a negative fit (only with negative
    // importance) is stored as its mirror image.
    if (scale < 0) {
      scale = -scale;
      for (int k = 0; k < kOctets; ++k) signs[k] = static_cast<uint8_t>(~signs[k] & 127);
    }
    for (int k = 0; k < kOctets; ++k) {
      words[2 * ib] |= static_cast<uint32_t>(point_index(t, L + kOctet * k)) << (8 * k);
      words[2 * ib + 1] |= static_cast<uint32_t>(signs[k]) << (7 * k);
    }
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }

  if (max_scale == 0) {
    std::memset(out->qs, 0, sizeof(out->qs));
    return;
  }
  const float d = max_scale / kScaleSteps;
  out->d = fp32_to_fp16(d);
  const float inv_d = 1 / d;
  for (int ib = 0; ib < kSuper / kGroup; ++ib) {
    words[2 * ib + 1] |= static_cast<uint32_t>(scale_code(scales[ib], inv_d)) << 28;
  }
  std::memcpy(out->qs, words, sizeof(out->qs));
}

// ---- IQ2_XS and IQ2_S: groups of 16 ----------------------------------------

struct PairFit {
  float scale;
  int points[2];
  uint8_t signs[2];
};

// Fits 16 weights (two codebook points) under one scale. Returns false for a
// group too small to store, which keeps all-zero bits.
//   even_negatives: IQ2_XS's 7-bit sign fields (IQ2_S stores all 8).
template <class Snap>
bool fit_pair(const float* xb, const float* weight, const float* waux, float tiny, bool even_negatives,
              const SearchTables& t, const Snap& snap, PairFit* fit) {
  constexpr int kGroup = 16;
  float ax[kGroup];
  int8_t L[kGroup] = {}, Laux[kGroup];
  for (int k = 0; k < 2; ++k) {
    fit->signs[k] = split_signs(xb + kOctet * k, weight + kOctet * k, even_negatives, ax + kOctet * k);
  }
  float max = ax[0];
  for (int i = 1; i < kGroup; ++i) max = max_of(max, ax[i]);
  if (max < tiny) return false;

  // Try 19 inverse scales around the one mapping the top level onto the top
  // magnitude; remember which octets rounded straight onto the codebook.
  float best = 0;
  float scale = max / (2 * (kMaxCode + 1) - 1);
  bool on_grid[2] = {true, true};
  for (int is = -9; is <= 9; ++is) {
    const float id = (2 * (kMaxCode + 1) - 1 + static_cast<float>(is) * 0.1f) / max;
    const float this_scale = 1 / id;
    bool on_grid_aux[2];
    for (int k = 0; k < 2; ++k) {
      on_grid_aux[k] =
          round_onto_codebook(t, snap, ax + kOctet * k, waux + kOctet * k, id, this_scale, Laux + kOctet * k);
    }
    float sumqx, sumq2;
    fit_terms(ax, weight, Laux, kGroup, &sumqx, &sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::memcpy(L, Laux, kGroup);
      on_grid[0] = on_grid_aux[0];
      on_grid[1] = on_grid_aux[1];
    }
  }
  // Octets that had to be snapped are rounded again with the final scale
  // (those that landed on the codebook keep their codes), then refit.
  if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
    const float id = 1 / scale;
    for (int k = 0; k < 2; ++k) {
      if (on_grid[k]) continue;
      round_onto_codebook(t, snap, ax + kOctet * k, waux + kOctet * k, id, scale, L + kOctet * k);
    }
    float sumqx, sumq2;
    fit_terms(ax, weight, L, kGroup, &sumqx, &sumq2);
    if (sumq2 > 0) scale = sumqx / sumq2;
  }
  if (scale < 0) {
    scale = -scale;
    for (int k = 0; k < 2; ++k) {
      fit->signs[k] = static_cast<uint8_t>(~fit->signs[k] & (even_negatives ? 127 : 255));
    }
  }
  for (int k = 0; k < 2; ++k) fit->points[k] = point_index(t, L + kOctet * k);
  fit->scale = scale;
  return true;
}

// fit_pair with the reference's neighbour search.
struct ReferencePairFit {
  const SearchTables& t;
  bool operator()(const float* xb, const float* weight, const float* waux, float tiny, bool even_negatives,
                  PairFit* fit) const {
    return fit_pair(xb, weight, waux, tiny, even_negatives, t, ScanNeighbours{t}, fit);
  }
};

// Both formats weight and fit their 16 sub-blocks the same way. Sub-blocks
// too small to store get scale 0 and keep all-zero bits (stored[ib] false).
// Returns the largest sub-block scale.
// `fit_one` fits one sub-block: fit_pair with the reference's search, or the
// fast path's sweep (same result).
template <class FitOne>
float fit_sub_blocks16(const float* x, const float* imatrix, float sigma2, float tiny, bool even_negatives,
                       const FitOne& fit_one, PairFit* fits, bool* stored) {
  constexpr int kGroup = 16;
  float max_scale = 0;
  for (int ib = 0; ib < kSuper / kGroup; ++ib) {
    const float* xb = x + kGroup * ib;
    float weight[kGroup], waux[kGroup];
    if (imatrix != nullptr) {
      const float* qw = imatrix + kGroup * ib;
      for (int i = 0; i < kGroup; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    } else {
      for (int i = 0; i < kGroup; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
    }
    for (int i = 0; i < kGroup; ++i) waux[i] = std::sqrt(weight[i]);
    fits[ib].scale = 0;
    stored[ib] = fit_one(xb, weight, waux, tiny, even_negatives, &fits[ib]);
    if (stored[ib]) max_scale = max_of(max_scale, fits[ib].scale);
  }
  return max_scale;
}

// Two 4-bit sub-block scale codes per byte, the even sub-block in the low nibble.
void store_scale_codes(const PairFit* fits, float inv_d, uint8_t* out) {
  for (int ib = 0; ib < kSuper / 16; ib += 2) {
    const int lo = scale_code(fits[ib].scale, inv_d);
    const int hi = scale_code(fits[ib + 1].scale, inv_d);
    out[ib / 2] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

template <class FitOne>
void quantize_block_xs(const float* x, const float* imatrix, const FitOne& fit_one, BlockXS* out) {
  std::memset(out, 0, sizeof(*out));
  out->d = fp32_to_fp16(0.f);
  float sumx2 = 0;
  for (int i = 0; i < kSuper; ++i) sumx2 += x[i] * x[i];
  const float sigma2 = sumx2 / kSuper;

  PairFit fits[kSuper / 16];
  bool stored[kSuper / 16];
  const float max_scale = fit_sub_blocks16(x, imatrix, sigma2, kTinyGroup, true, fit_one, fits, stored);
  if (max_scale == 0) return;  // ggml leaves the indices zero as well
  for (int ib = 0; ib < kSuper / 16; ++ib) {
    if (!stored[ib]) continue;
    for (int k = 0; k < 2; ++k) {
      out->qs[2 * ib + k] = static_cast<uint16_t>(fits[ib].points[k] | (fits[ib].signs[k] << 9));
    }
  }
  const float d = max_scale / kScaleSteps;
  out->d = fp32_to_fp16(d);
  store_scale_codes(fits, 1 / d, out->scales);
}

template <class FitOne>
void quantize_block_s(const float* x, const float* imatrix, const FitOne& fit_one, BlockS* out) {
  std::memset(out, 0, sizeof(*out));
  out->d = fp32_to_fp16(0.f);
  float sumx2 = 0;
  for (int i = 0; i < kSuper; ++i) sumx2 += x[i] * x[i];
  const float sigma2 = 2 * sumx2 / kSuper;

  PairFit fits[kSuper / 16];
  bool stored[kSuper / 16];
  const float max_scale = fit_sub_blocks16(x, imatrix, sigma2, kTinyGroupS, false, fit_one, fits, stored);
  // Unlike IQ2_XS, the indices and signs are kept even when every scale is
  // zero (ggml writes them as it goes), so they are stored first.
  for (int ib = 0; ib < kSuper / 16; ++ib) {
    if (!stored[ib]) continue;
    for (int k = 0; k < 2; ++k) {
      const int i8 = 2 * ib + k;
      const int point = fits[ib].points[k];
      out->qs[i8] = static_cast<uint8_t>(point & 255);
      out->qh[i8 / 4] = static_cast<uint8_t>(out->qh[i8 / 4] | ((point >> 8) << (2 * (i8 % 4))));
      out->signs[i8] = fits[ib].signs[k];
    }
  }
  if (max_scale == 0) return;
  const float d = max_scale / kScaleSteps;
  // ggml stores a slightly smaller super-scale than the one the 4-bit codes
  // were rounded against (a fixed 0.9875 bias that lowers the error).
  out->d = fp32_to_fp16(d * 0.9875f);
  store_scale_codes(fits, 1 / d, out->scales);
}

template <typename Block, typename Fn>
size_t quantize_rows(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix,
                     Fn quantize_block) {
  const int64_t nb = n_per_row / kSuper;
  auto* out = static_cast<Block*>(dst);
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* w = imatrix != nullptr ? imatrix + b * kSuper : nullptr;
      quantize_block(src + r * n_per_row + b * kSuper, w, out + r * nb + b);
    }
  }
  return static_cast<size_t>(nrows * nb) * sizeof(Block);
}

// ---- fast path ----------------------------------------------------------------
// The fast path runs the same block quantizers with a faster neighbour
// search (the search is nearly all of the time): per octet and scale, each
// coordinate's three possible error terms are computed once with the
// reference's expression, and the SIMD search (iq_grid_search.h) scores one
// candidate per lane by adding its terms in coordinate order, so every error
// and the chosen point are exactly the reference's.

const iq_grid::PaddedLists& padded_lists(Codebook cb) {
  auto build = [](Codebook c) {
    const SearchTables& t = iq2::search_tables(c);
    return iq_grid::pad_lists(t.first, t.count, t.candidates, iq2::codebook_points(c));
  };
  switch (cb) {
    case Codebook::kXXS: {
      static const iq_grid::PaddedLists lists = build(Codebook::kXXS);
      return lists;
    }
    case Codebook::kXS: {
      static const iq_grid::PaddedLists lists = build(Codebook::kXS);
      return lists;
    }
    case Codebook::kS:
      break;
  }
  static const iq_grid::PaddedLists lists = build(Codebook::kS);
  return lists;
}

struct SimdNeighbours {
  const SearchTables& t;
  const iq_grid::PaddedLists& lists;
  void operator()(uint16_t key, const float* ax, const float* w, float scale, int8_t* codes) const {
    // Levels 2c + 1, as snap_to_neighbour converts them.
    static constexpr float kLevels[3] = {1, 3, 5};
    const int n = t.count[key];
    APEX_CHECK(n > 0, "IQ2 key {} has no neighbour list", key);
    iq_grid::Terms terms;
    iq_grid::make_terms(ax, w, scale, kLevels, &terms);
    const uint32_t first = lists.first[key];
    const int c = iq_grid::first_best(terms, lists.keys.data() + first, n);
    // No finite error at all: the reference keeps the list's first point.
    const uint16_t point_key = lists.keys[first + (c >= 0 ? c : 0)];
    for (int i = 0; i < kOctet; ++i) codes[i] = static_cast<int8_t>((point_key >> (2 * i)) & 3);
  }
};

// The scale sweep of fit_pair / quantize_block_xxs done for all scales at
// once (iq2_sweep.h): round every scale (SIMD, lane per scale), snap the
// octets that missed the codebook (SIMD search), fit every scale (SIMD, lane
// per scale, sums in element order), then accept scales one by one in the
// reference's order with its exact test. The result is the reference's
// best scale and codes; `on_grid` tells which octets of that best needed no
// snap. Returns the index of the accepted best scale, or -1 if none was.
struct SweepResult {
  int best = -1;
  float scale = 0;
};
template <int kGroup>
SweepResult sweep_scales(const SearchTables& t, const SimdNeighbours& snap, const float* ax, const float* weight,
                         const float* waux, const float* ids, int nscales, int8_t* codes, bool* on_grid,
                         float initial_scale) {
  constexpr int kOctets = kGroup / kOctet;
  uint16_t keys[kOctets * iq2::kMaxScales];
  iq2::round_sweep(ax, kGroup, ids, nscales, codes, keys);
  bool grid_ok[kOctets][iq2::kMaxScales];
  for (int s = 0; s < nscales; ++s) {
    const float this_scale = 1 / ids[s];
    for (int k = 0; k < kOctets; ++k) {
      const uint16_t key = keys[k * iq2::kMaxScales + s];
      grid_ok[k][s] = t.point_of[key] >= 0;
      if (grid_ok[k][s]) continue;
      int8_t snapped[kOctet];
      snap(key, ax + kOctet * k, waux + kOctet * k, this_scale, snapped);
      for (int i = 0; i < kOctet; ++i) codes[(kOctet * k + i) * iq2::kMaxScales + s] = snapped[i];
    }
  }
  float sumqx[iq2::kMaxScales], sumq2[iq2::kMaxScales];
  iq2::fit_sweep(ax, weight, kGroup, codes, nscales, sumqx, sumq2);
  SweepResult r;
  r.scale = initial_scale;
  float best = 0;
  for (int s = 0; s < nscales; ++s) {
    if (sumq2[s] > 0 && sumqx[s] * sumqx[s] > best * sumq2[s]) {
      r.scale = sumqx[s] / sumq2[s];
      best = r.scale * sumqx[s];
      r.best = s;
    }
  }
  if (r.best >= 0 && on_grid != nullptr) {
    for (int k = 0; k < kOctets; ++k) on_grid[k] = grid_ok[k][r.best];
  }
  return r;
}

// Column s of the transposed sweep codes.
template <int kGroup>
void sweep_codes(const int8_t* codes, int s, int8_t* L) {
  for (int i = 0; i < kGroup; ++i) L[i] = codes[i * iq2::kMaxScales + s];
}

// fit_pair with the sweep; the steps after it are the reference's.
struct FastPairFit {
  const SearchTables& t;
  SimdNeighbours snap;
  bool operator()(const float* xb, const float* weight, const float* waux, float tiny, bool even_negatives,
                  PairFit* fit) const {
    constexpr int kGroup = 16;
    constexpr int kScales = 19;
    float ax[kGroup];
    int8_t L[kGroup] = {};
    for (int k = 0; k < 2; ++k) {
      fit->signs[k] = split_signs(xb + kOctet * k, weight + kOctet * k, even_negatives, ax + kOctet * k);
    }
    float max = ax[0];
    for (int i = 1; i < kGroup; ++i) max = max_of(max, ax[i]);
    if (max < tiny) return false;

    float ids[iq2::kMaxScales];
    for (int is = -9; is <= 9; ++is) ids[is + 9] = (2 * (kMaxCode + 1) - 1 + static_cast<float>(is) * 0.1f) / max;
    for (int s = kScales; s < iq2::kMaxScales; ++s) ids[s] = ids[0];  // padding lanes, results unused
    int8_t codes[kGroup * iq2::kMaxScales];
    bool on_grid[2] = {true, true};
    const SweepResult r = sweep_scales<kGroup>(t, snap, ax, weight, waux, ids, kScales, codes, on_grid,
                                               max / (2 * (kMaxCode + 1) - 1));
    float scale = r.scale;
    if (r.best >= 0) sweep_codes<kGroup>(codes, r.best, L);
    if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
      const float id = 1 / scale;
      for (int k = 0; k < 2; ++k) {
        if (on_grid[k]) continue;
        round_onto_codebook(t, snap, ax + kOctet * k, waux + kOctet * k, id, scale, L + kOctet * k);
      }
      float sumqx, sumq2;
      fit_terms(ax, weight, L, kGroup, &sumqx, &sumq2);
      if (sumq2 > 0) scale = sumqx / sumq2;
    }
    if (scale < 0) {
      scale = -scale;
      for (int k = 0; k < 2; ++k) {
        fit->signs[k] = static_cast<uint8_t>(~fit->signs[k] & (even_negatives ? 127 : 255));
      }
    }
    for (int k = 0; k < 2; ++k) fit->points[k] = point_index(t, L + kOctet * k);
    fit->scale = scale;
    return true;
  }
};

// quantize_block_xxs with the sweep; everything else is the reference's.
void quantize_block_xxs_fast(const float* x, const float* imatrix, const SearchTables& t, const SimdNeighbours& snap,
                             BlockXXS* out) {
  constexpr int kGroup = 32;
  constexpr int kOctets = kGroup / kOctet;
  constexpr int kScales = 13;
  uint32_t words[kSuper / kGroup * 2] = {};
  float scales[kSuper / kGroup];
  out->d = fp32_to_fp16(0.f);

  float sumx2 = 0;
  for (int i = 0; i < kSuper; ++i) sumx2 += x[i] * x[i];
  const float sigma2 = sumx2 / kSuper;

  float max_scale = 0;
  for (int ib = 0; ib < kSuper / kGroup; ++ib) {
    const float* xb = x + kGroup * ib;
    const float* qw = imatrix + kGroup * ib;
    float weight[kGroup], waux[kGroup], ax[kGroup];
    int8_t L[kGroup];
    uint8_t signs[kOctets];
    for (int i = 0; i < kGroup; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    for (int i = 0; i < kGroup; ++i) waux[i] = std::sqrt(weight[i]);
    for (int k = 0; k < kOctets; ++k) {
      signs[k] = split_signs(xb + kOctet * k, weight + kOctet * k, true, ax + kOctet * k);
    }
    float max = ax[0];
    for (int i = 1; i < kGroup; ++i) max = max_of(max, ax[i]);
    scales[ib] = 0;
    if (max < kTinyGroup) continue;

    uint8_t start_codes[kGroup];
    float scale = kq::fit_unsigned(ax, weight, kGroup, kMaxCode + 2, start_codes);
    for (int i = 0; i < kGroup; ++i) L[i] = static_cast<int8_t>(start_codes[i]);
    const float eff_max = scale * (kMaxCode + 1);
    if (eff_max <= 0) continue;
    float ids[iq2::kMaxScales];
    for (int is = -6; is <= 6; ++is) ids[is + 6] = (2 * (kMaxCode + 1) - 1 + static_cast<float>(is) * 0.1f) / eff_max;
    for (int s = kScales; s < iq2::kMaxScales; ++s) ids[s] = ids[0];  // padding lanes, results unused
    int8_t codes[kGroup * iq2::kMaxScales];
    const SweepResult r = sweep_scales<kGroup>(t, snap, ax, weight, waux, ids, kScales, codes, nullptr, scale);
    scale = r.scale;
    if (r.best >= 0) sweep_codes<kGroup>(codes, r.best, L);
    if (scale > 0) {
      const float id = 1 / scale;
      for (int k = 0; k < kOctets; ++k) {
        round_onto_codebook(t, snap, ax + kOctet * k, waux + kOctet * k, id, scale, L + kOctet * k);
      }
      float sumqx, sumq2;
      fit_terms(ax, weight, L, kGroup, &sumqx, &sumq2);
      if (sumq2 > 0) scale = sumqx / sumq2;
    }
    if (scale < 0) {
      scale = -scale;
      for (int k = 0; k < kOctets; ++k) signs[k] = static_cast<uint8_t>(~signs[k] & 127);
    }
    for (int k = 0; k < kOctets; ++k) {
      words[2 * ib] |= static_cast<uint32_t>(point_index(t, L + kOctet * k)) << (8 * k);
      words[2 * ib + 1] |= static_cast<uint32_t>(signs[k]) << (7 * k);
    }
    scales[ib] = scale;
    max_scale = max_of(max_scale, scale);
  }

  if (max_scale == 0) {
    std::memset(out->qs, 0, sizeof(out->qs));
    return;
  }
  const float d = max_scale / kScaleSteps;
  out->d = fp32_to_fp16(d);
  const float inv_d = 1 / d;
  for (int ib = 0; ib < kSuper / kGroup; ++ib) {
    words[2 * ib + 1] |= static_cast<uint32_t>(scale_code(scales[ib], inv_d)) << 28;
  }
  std::memcpy(out->qs, words, sizeof(out->qs));
}

// ---- dequantization ---------------------------------------------------------

// Writes 8 values: scale * magnitude, negated where the sign bit is set.
inline void decode_octet(float db, const uint8_t* mag, uint8_t signs, float* y) {
  for (int j = 0; j < kOctet; ++j) y[j] = db * mag[j] * ((signs >> j) & 1 ? -1.f : 1.f);
}

bool scales_finite(const void* data, size_t nbytes, size_t block_bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t off = 0; off + block_bytes <= nbytes; off += block_bytes) {
    uint16_t d;
    std::memcpy(&d, p + off, 2);
    if ((d & 0x7c00) == 0x7c00) return false;  // inf or NaN
  }
  return true;
}

}  // namespace

size_t quantize_iq2_xxs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  APEX_CHECK(imatrix != nullptr, "IQ2_XXS needs an importance matrix (checked by quantize_rows)");
  const SearchTables& t = iq2::search_tables(Codebook::kXXS);
  return quantize_rows<BlockXXS>(src, dst, nrows, n_per_row, imatrix,
                                 [&](const float* x, const float* w, BlockXXS* b) { quantize_block_xxs(x, w, t, ScanNeighbours{t}, b); });
}
size_t quantize_iq2_xxs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  APEX_CHECK(imatrix != nullptr, "IQ2_XXS needs an importance matrix (checked by quantize_rows)");
  const SearchTables& t = iq2::search_tables(Codebook::kXXS);
  const SimdNeighbours snap{t, padded_lists(Codebook::kXXS)};
  return quantize_rows<BlockXXS>(src, dst, nrows, n_per_row, imatrix,
                          [&](const float* x, const float* w, BlockXXS* b) { quantize_block_xxs_fast(x, w, t, snap, b); });
}

size_t quantize_iq2_xs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  APEX_CHECK(imatrix != nullptr, "IQ2_XS needs an importance matrix (checked by quantize_rows)");
  const SearchTables& t = iq2::search_tables(Codebook::kXS);
  return quantize_rows<BlockXS>(src, dst, nrows, n_per_row, imatrix,
                                [&](const float* x, const float* w, BlockXS* b) { quantize_block_xs(x, w, ReferencePairFit{t}, b); });
}
size_t quantize_iq2_xs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  APEX_CHECK(imatrix != nullptr, "IQ2_XS needs an importance matrix (checked by quantize_rows)");
  const SearchTables& t = iq2::search_tables(Codebook::kXS);
  const SimdNeighbours snap{t, padded_lists(Codebook::kXS)};
  return quantize_rows<BlockXS>(src, dst, nrows, n_per_row, imatrix,
                          [&](const float* x, const float* w, BlockXS* b) { quantize_block_xs(x, w, FastPairFit{t, snap}, b); });
}

size_t quantize_iq2_s_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const SearchTables& t = iq2::search_tables(Codebook::kS);
  return quantize_rows<BlockS>(src, dst, nrows, n_per_row, imatrix,
                               [&](const float* x, const float* w, BlockS* b) { quantize_block_s(x, w, ReferencePairFit{t}, b); });
}
size_t quantize_iq2_s(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const SearchTables& t = iq2::search_tables(Codebook::kS);
  const SimdNeighbours snap{t, padded_lists(Codebook::kS)};
  return quantize_rows<BlockS>(src, dst, nrows, n_per_row, imatrix,
                          [&](const float* x, const float* w, BlockS* b) { quantize_block_s(x, w, FastPairFit{t, snap}, b); });
}

void dequantize_iq2_xxs(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockXXS*>(src);
  const uint8_t* mags = iq2::codebook_magnitudes(Codebook::kXXS).data();
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const float d = fp16_to_fp32(blocks[b].d);
    for (int ib = 0; ib < kSuper / 32; ++ib) {
      uint32_t words[2];
      std::memcpy(words, blocks[b].qs + 4 * ib, sizeof(words));
      const float db = d * (0.5f + static_cast<float>(words[1] >> 28)) * 0.25f;
      for (int k = 0; k < 4; ++k) {
        const int point = (words[0] >> (8 * k)) & 255;
        decode_octet(db, mags + 8 * point, iq2::expand_signs(words[1] >> (7 * k)), dst);
        dst += kOctet;
      }
    }
  }
}

void dequantize_iq2_xs(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockXS*>(src);
  const uint8_t* mags = iq2::codebook_magnitudes(Codebook::kXS).data();
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const float d = fp16_to_fp32(blocks[b].d);
    for (int ib = 0; ib < kSuper / 32; ++ib) {
      const uint8_t sc = blocks[b].scales[ib];
      const float db[2] = {d * (0.5f + static_cast<float>(sc & 0xf)) * 0.25f,
                           d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f};
      for (int k = 0; k < 4; ++k) {
        const uint16_t q = blocks[b].qs[4 * ib + k];
        decode_octet(db[k / 2], mags + 8 * (q & 511), iq2::expand_signs(q >> 9), dst);
        dst += kOctet;
      }
    }
  }
}

void dequantize_iq2_s(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockS*>(src);
  const uint8_t* mags = iq2::codebook_magnitudes(Codebook::kS).data();
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const BlockS& blk = blocks[b];
    const float d = fp16_to_fp32(blk.d);
    for (int ib = 0; ib < kSuper / 32; ++ib) {
      const uint8_t sc = blk.scales[ib];
      const float db[2] = {d * (0.5f + static_cast<float>(sc & 0xf)) * 0.25f,
                           d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f};
      for (int k = 0; k < 4; ++k) {
        const int i8 = 4 * ib + k;
        const int point = blk.qs[i8] | (((blk.qh[ib] >> (2 * k)) & 3) << 8);
        decode_octet(db[k / 2], mags + 8 * point, blk.signs[i8], dst);
        dst += kOctet;
      }
    }
  }
}

bool validate_iq2_xxs(const void* data, size_t nbytes) { return scales_finite(data, nbytes, sizeof(BlockXXS)); }
bool validate_iq2_xs(const void* data, size_t nbytes) { return scales_finite(data, nbytes, sizeof(BlockXS)); }
bool validate_iq2_s(const void* data, size_t nbytes) { return scales_finite(data, nbytes, sizeof(BlockS)); }

}  // namespace apex::quant
