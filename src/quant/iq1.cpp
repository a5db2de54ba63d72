#include "quant/iq1.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "quant/fp16.h"
#include "quant/iq1_cuts.h"
#include "quant/iq1_grids.h"
#include "quant/iq_grid_search.h"
#include "quant/rounding.h"
#include "util/check.h"

namespace apex::quant {
namespace {

constexpr int kSuper = 256;
constexpr int kGroup = 8;  // weights per codebook point

// Every group's value is scale * (code - 1 + delta), delta = +-1/8: the
// three levels a code can mean under each shift sign.
constexpr float kDelta = 0.125f;
constexpr float kLevelsPlus[3] = {-1 + kDelta, kDelta, 1 + kDelta};
constexpr float kLevelsMinus[3] = {-1 - kDelta, -kDelta, 1 - kDelta};

// A block whose largest magnitude is below this is stored as zeros (ggml's
// GROUP_MAX_EPS_IQ1_S / _M).
constexpr float kTinyS = 1e-12f;
constexpr float kTinyM = 1e-7f;

struct BlockS {
  uint16_t d;               // fp16 super-block scale
  uint8_t qs[kSuper / 8];   // low 8 bits of each group's point index
  uint16_t qh[kSuper / 32]; // per 32 weights: 4 x 3 high index bits, 3-bit scale, shift sign
};
struct BlockM {
  uint8_t qs[kSuper / 8];       // low 8 bits of each group's point index
  uint8_t qh[kSuper / 16];      // per 16 weights: 2 x (3 high index bits, shift sign)
  uint8_t scales[kSuper / 32];  // four 16-bit words: 4 x 3-bit scales + a nibble of the fp16 scale
};
static_assert(sizeof(BlockS) == 50 && sizeof(BlockM) == 56);

// One weight's value and position. ggml orders a block by value with the C
// library's qsort over exactly this 8-byte layout and a comparator that only
// looks at the value; equal values are left in whatever order qsort leaves
// them, so the same qsort must be used here to split ties the same way.
struct ValueAt {
  float x;
  int32_t index;
};
static_assert(sizeof(ValueAt) == 8);

int compare_values(const void* a, const void* b) {
  const float l = static_cast<const ValueAt*>(a)->x;
  const float r = static_cast<const ValueAt*>(b)->x;
  return l < r ? -1 : (l > r ? 1 : 0);
}

void order_by_value(const float* x, int n, ValueAt* order) {
  for (int j = 0; j < n; ++j) order[j] = {x[j], j};
  std::qsort(order, static_cast<size_t>(n), sizeof(ValueAt), compare_values);
}

// Importance of each weight: the imatrix entry scaled by the weight's size
// relative to the super-block's spread, or the squared weight without one.
void block_weights(const float* x, const float* imatrix, float sigma2, int n, float* w) {
  if (imatrix != nullptr) {
    for (int i = 0; i < n; ++i) w[i] = imatrix[i] * std::sqrt(sigma2 + x[i] * x[i]);
  } else {
    for (int i = 0; i < n; ++i) w[i] = x[i] * x[i];
  }
}

float spread(const float* x) {
  float sum_x2 = 0;
  for (int i = 0; i < kSuper; ++i) sum_x2 += x[i] * x[i];
  return 2 * sum_x2 / kSuper;
}

float max_abs(const float* x, int n) {
  float m = std::fabs(x[0]);
  for (int i = 1; i < n; ++i) m = m > std::fabs(x[i]) ? m : std::fabs(x[i]);
  return m;
}

uint16_t pack_key(const int8_t* codes) {
  uint16_t key = 0;
  for (int j = 0; j < kGroup; ++j) key = static_cast<uint16_t>(key | (codes[j] << 2 * j));
  return key;
}

float weighted_error(const int8_t* point_codes, const float* x, const float* w, float scale, const float* levels) {
  float d2 = 0;
  for (int i = 0; i < kGroup; ++i) {
    const float diff = scale * levels[point_codes[i]] - x[i];
    d2 += w[i] * diff * diff;
  }
  return d2;
}

// The reference's scan of a key's candidate list: the candidate with the
// least weighted squared error at the given scale (first one on ties, errors
// of NaN or >= FLT_MAX never chosen), or -1.
struct ScanCandidates {
  const iq1::SearchTables& t;
  int operator()(uint16_t key, const float* x, const float* w, float scale, const float* levels) const {
    float best = FLT_MAX;
    int point = -1;
    const uint16_t* cand = t.candidates.data() + t.first[key];
    for (int c = 0; c < t.count[key]; ++c) {
      const float d2 = weighted_error(&t.codes[8 * cand[c]], x, w, scale, levels);
      if (d2 < best) {
        best = d2;
        point = cand[c];
      }
    }
    return point;
  }
  // The same scan over the whole codebook, in point order.
  int whole_codebook(const float* x, const float* w, float scale, const float* levels) const {
    float best = FLT_MAX;
    int point = -1;
    for (int p = 0; p < iq1::kPoints; ++p) {
      const float d2 = weighted_error(&t.codes[8 * p], x, w, scale, levels);
      if (d2 < best) {
        best = d2;
        point = p;
      }
    }
    return point;
  }
};

// The codebook point for a group whose codes (0..2 each) are `codes`: the
// point with that key, or else the candidate with the least weighted squared
// error at the given scale (first one on ties), as ggml's
// iq1_find_best_neighbour2 chooses. Rewrites `codes` to the chosen point's.
// Returns the point index and whether the key was a point itself.
// `search` scans candidate lists (ScanCandidates, or the fast path's SIMD
// search, which chooses the same point).
template <class Search>
int choose_point(const iq1::SearchTables& t, const Search& search, int8_t* codes, const float* x, const float* w,
                 float scale, const float* levels, bool* exact) {
  const uint16_t key = pack_key(codes);
  int point = t.point_of[key];
  *exact = point >= 0;
  if (point >= 0) return point;
  point = search(key, x, w, scale, levels);
  if (point < 0) {
    // Every candidate's error overflowed (or is NaN): search the whole
    // codebook. ggml's fallback here indexes the weights by point number
    // (reading past the group) and aborts if that finds nothing either; we
    // read the group itself and settle for point 0 rather than abort.
    point = search.whole_codebook(x, w, scale, levels);
    if (point < 0) point = 0;
  }
  std::memcpy(codes, &t.codes[8 * point], kGroup);
  return point;
}

// Least-squares scale for the chosen points of a block (groups of 8, each
// with its own level set); kept only when it is positive.
void refit_scale(const iq1::SearchTables& t, const uint16_t* points, const float* const* levels, int n_groups,
                 const float* x, const float* w, float* scale) {
  float sumqx = 0, sumq2 = 0;
  for (int k = 0; k < n_groups; ++k) {
    const int8_t* pc = &t.codes[8 * points[k]];
    for (int j = 0; j < kGroup; ++j) {
      const float wj = w[kGroup * k + j];
      const float q = levels[k][pc[j]];
      sumqx += wj * q * x[kGroup * k + j];
      sumq2 += wj * q * q;
    }
  }
  if (sumqx > 0 && sumq2 > 0) *scale = sumqx / sumq2;
}

// ---------------------------------------------------------------- IQ1_S

constexpr int kBlockS = 32;  // weights per block scale and shift sign

// The reference cut search of an IQ1_S block: every cut pair (i1 <= i2) in
// value order, for both shift signs (plus first), sums from the prefix sums
// sumx/sumw over the sorted block; the best weighted fit (sumqx^2 / sumq2)
// wins, tested and updated in exactly ggml's order and arithmetic.
iq1::CutResult cuts_s_ref(const float* sumx, const float* sumw, float amax) {
  float best_score = -FLT_MAX, scale = amax;
  int cut1 = -1, cut2 = -1, shift = 0;
  auto try_cuts = [&](int i1, int i2, const float* lv, int sign) {
    const float sumqx = (sumx[i1] - sumx[0]) * lv[0] + (sumx[i2] - sumx[i1]) * lv[1] + (sumx[kBlockS] - sumx[i2]) * lv[2];
    const float sumq2 = (sumw[i1] - sumw[0]) * lv[0] * lv[0] + (sumw[i2] - sumw[i1]) * lv[1] * lv[1] +
                        (sumw[kBlockS] - sumw[i2]) * lv[2] * lv[2];
    if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
      scale = sumqx / sumq2;
      best_score = scale * sumqx;
      cut1 = i1;
      cut2 = i2;
      shift = sign;
    }
  };
  for (int i1 = 0; i1 <= kBlockS; ++i1) {
    for (int i2 = i1; i2 <= kBlockS; ++i2) {
      try_cuts(i1, i2, kLevelsPlus, 1);
      try_cuts(i1, i2, kLevelsMinus, -1);
    }
  }
  return {scale, cut1, cut2, shift};
}

template <class Kernels>
void quantize_block_s(const iq1::SearchTables& t, const Kernels& kernels, const float* xbl, const float* imatrix,
                      BlockS* y) {
  std::memset(y, 0, sizeof(*y));  // d = +0, which is fp16 0x0000
  float scales[kSuper / kBlockS];
  int shifts[kSuper / kBlockS];
  float weight[kBlockS];
  ValueAt order[kBlockS];
  // Padded for the fast cut search's vector loads (see iq1_cuts.h).
  float sumx[iq1::kCutPad] = {}, sumw[iq1::kCutPad] = {};
  int8_t L[kBlockS];
  uint16_t points[kBlockS / kGroup];
  float max_scale = 0;
  const float sigma2 = spread(xbl);

  for (int ib = 0; ib < kSuper / kBlockS; ++ib) {
    const float* xb = xbl + kBlockS * ib;
    block_weights(xb, imatrix ? imatrix + kBlockS * ib : nullptr, sigma2, kBlockS, weight);
    scales[ib] = 0;
    shifts[ib] = 1;
    const float amax = max_abs(xb, kBlockS);
    if (amax < kTinyS) continue;

    // With three levels per shift sign, a block's codes are fixed by two cut
    // points in value order; prefix sums over the sorted weights give every
    // cut pair's least-squares fit in O(1), so all pairs are tried for both
    // signs and the best weighted fit (sumqx^2 / sumq2) wins.
    kernels.order(xb, kBlockS, order);
    sumx[0] = sumw[0] = 0;
    for (int j = 0; j < kBlockS; ++j) {
      const int i = order[j].index;
      sumx[j + 1] = sumx[j] + weight[i] * xb[i];
      sumw[j + 1] = sumw[j] + weight[i];
    }
    const iq1::CutResult cut = kernels.cuts_s(sumx, sumw, amax);
    if (cut.cut1 < 0) continue;
    const int cut1 = cut.cut1, cut2 = cut.cut2;
    float scale = cut.scale;
    int shift = cut.choice;
    for (int j = 0; j < kBlockS; ++j) L[order[j].index] = static_cast<int8_t>(j < cut1 ? 0 : (j < cut2 ? 1 : 2));
    if (scale < 0) {
      // A negative scale is the mirrored fit: flip codes and shift sign.
      for (int8_t& l : L) l = static_cast<int8_t>(2 - l);
      scale = -scale;
      shift = -shift;
    }
    const float* levels = shift == 1 ? kLevelsPlus : kLevelsMinus;
    bool all_exact = true;
    for (int k = 0; k < kBlockS / kGroup; ++k) {
      bool exact;
      points[k] = static_cast<uint16_t>(
          choose_point(t, kernels.search, L + kGroup * k, xb + kGroup * k, weight + kGroup * k, scale, levels, &exact));
      all_exact = all_exact && exact;
    }
    if (!all_exact) {
      const float* per_group[kBlockS / kGroup] = {levels, levels, levels, levels};
      refit_scale(t, points, per_group, kBlockS / kGroup, xb, weight, &scale);
    }
    uint16_t high = 0;
    for (int k = 0; k < kBlockS / kGroup; ++k) {
      y->qs[(kBlockS / kGroup) * ib + k] = static_cast<uint8_t>(points[k] & 255);
      high = static_cast<uint16_t>(high | ((points[k] >> 8) << 3 * k));
    }
    y->qh[ib] = high;
    scales[ib] = scale;
    shifts[ib] = shift;
    max_scale = max_scale > scale ? max_scale : scale;
  }
  if (max_scale == 0) return;

  // Block scales are odd multiples 2l+1 (l in 0..7) of d = max/15; the
  // stored fp16 is d * 1.125, the upstream empirical correction.
  const float d = max_scale / 15;
  y->d = fp32_to_fp16(d * 1.125f);
  const float id = 1 / d;
  for (int ib = 0; ib < kSuper / kBlockS; ++ib) {
    int l = nearest_int(0.5f * (id * scales[ib] - 1));
    l = l < 0 ? 0 : (l > 7 ? 7 : l);
    if (shifts[ib] == -1) l |= 8;
    y->qh[ib] = static_cast<uint16_t>(y->qh[ib] | (l << 12));
  }
}

// ---------------------------------------------------------------- IQ1_M

constexpr int kBlockM = 16;  // weights per block scale; each group of 8 has its own shift sign

// Shift signs of a block's two groups, numbered as ggml does: bit 1 set means
// group 0 uses the minus levels, bit 0 set means group 1 does.
const float* levels_m(int shift_pair, int group) {
  const bool minus = group == 0 ? shift_pair >= 2 : (shift_pair % 2) != 0;
  return minus ? kLevelsMinus : kLevelsPlus;
}

// The inputs of an IQ1_M block's cut search: per-half prefix sums over the
// sorted block and the constants ggml derives from the levels.
iq1::CutsM cuts_m_inputs(const float (*px)[iq1::kCutPad], const float (*pw)[iq1::kCutPad]) {
  iq1::CutsM in;
  for (int h = 0; h < 2; ++h) {
    in.px[h] = px[h];
    in.pw[h] = pw[h];
    in.total_x[h] = px[h][kBlockM];
    in.total_w[h] = pw[h][kBlockM];
  }
  in.p2 = kLevelsPlus[2];
  in.m2 = kLevelsMinus[2];
  in.cp1 = kLevelsPlus[0] * kLevelsPlus[0] - kLevelsPlus[1] * kLevelsPlus[1];
  in.cp2 = kLevelsPlus[1] * kLevelsPlus[1] - kLevelsPlus[2] * kLevelsPlus[2];
  in.cm1 = kLevelsMinus[0] * kLevelsMinus[0] - kLevelsMinus[1] * kLevelsMinus[1];
  in.cm2 = kLevelsMinus[1] * kLevelsMinus[1] - kLevelsMinus[2] * kLevelsMinus[2];
  return in;
}

// The reference cut search of an IQ1_M block: every cut pair in value order
// and, per pair, the four shift-sign pairs (++, +-, -+, --). Because adjacent
// levels differ by exactly 1 under both signs, a cut pair's sum(w*q*x) is
// top*total - S(i1) - S(i2), and sum(w*q^2) is linear in the prefix weights
// with fixed coefficients; the float expressions follow ggml's so the sums
// round alike.
iq1::CutResult cuts_m_ref(const iq1::CutsM& in, float amax) {
  float best_score = -FLT_MAX, scale = amax;
  int cut1 = -1, cut2 = -1, best_pair = -1;
  for (int i1 = 0; i1 <= kBlockM; ++i1) {
    for (int i2 = i1; i2 <= kBlockM; ++i2) {
      float qx_p[2], qx_m[2], q2_p[2], q2_m[2];
      for (int h = 0; h < 2; ++h) {
        const float sx = in.px[h][i1] + in.px[h][i2];
        qx_p[h] = in.total_x[h] * in.p2 - sx;
        qx_m[h] = in.total_x[h] * in.m2 - sx;
        q2_p[h] = in.total_w[h] * in.p2 * in.p2 + in.pw[h][i1] * in.cp1 + in.pw[h][i2] * in.cp2;
        q2_m[h] = in.total_w[h] * in.m2 * in.m2 + in.pw[h][i1] * in.cm1 + in.pw[h][i2] * in.cm2;
      }
      const float sumqx[4] = {qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1], qx_m[0] + qx_m[1]};
      const float sumq2[4] = {q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1], q2_m[0] + q2_m[1]};
      for (int k = 0; k < 4; ++k) {
        if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best_score * sumq2[k]) {
          scale = sumqx[k] / sumq2[k];
          best_score = scale * sumqx[k];
          cut1 = i1;
          cut2 = i2;
          best_pair = k;
        }
      }
    }
  }
  return {scale, cut1, cut2, best_pair};
}

template <class Kernels>
void quantize_block_m(const iq1::SearchTables& t, const Kernels& kernels, const float* xbl, const float* imatrix,
                      BlockM* y) {
  constexpr uint8_t kShiftBits[4] = {0x00, 0x80, 0x08, 0x88};  // qh bits for each shift pair
  std::memset(y, 0, sizeof(*y));
  float scales[kSuper / kBlockM];
  int shifts[kSuper / kBlockM];
  float weight[kSuper];
  ValueAt order[kBlockM];
  int8_t L[kBlockM];
  uint16_t points[kBlockM / kGroup];
  float max_scale = 0;
  const float sigma2 = spread(xbl);

  for (int ib = 0; ib < kSuper / kBlockM; ++ib) {
    const float* xb = xbl + kBlockM * ib;
    float* wb = weight + kBlockM * ib;
    block_weights(xb, imatrix ? imatrix + kBlockM * ib : nullptr, sigma2, kBlockM, wb);
    scales[ib] = 0;
    shifts[ib] = 0;
    const float amax = max_abs(xb, kBlockM);
    if (amax < kTinyM) continue;

    // As for IQ1_S, all cut pairs in value order are tried, but each half
    // of the block may take either shift sign, so the prefix sums are kept
    // per half. Because adjacent levels differ by exactly 1 under both
    // signs, a cut pair's sum(w*q*x) is top*total - S(i1) - S(i2), and
    // sum(w*q^2) is linear in the prefix weights with fixed coefficients;
    // the float expressions below follow ggml's so the sums round alike.
    kernels.order(xb, kBlockM, order);
    float px[2][iq1::kCutPad], pw[2][iq1::kCutPad];  // padded as for IQ1_S
    for (int h = 0; h < 2; ++h) {
      std::fill(px[h] + kBlockM + 1, px[h] + iq1::kCutPad, 0.0f);
      std::fill(pw[h] + kBlockM + 1, pw[h] + iq1::kCutPad, 0.0f);
    }
    px[0][0] = px[1][0] = pw[0][0] = pw[1][0] = 0;
    for (int j = 0; j < kBlockM; ++j) {
      const int i = order[j].index;
      const int h = i < kBlockM / 2 ? 0 : 1;
      px[h][j + 1] = px[h][j] + wb[i] * xb[i];
      px[1 - h][j + 1] = px[1 - h][j];
      pw[h][j + 1] = pw[h][j] + wb[i];
      pw[1 - h][j + 1] = pw[1 - h][j];
    }
    const iq1::CutResult cut = kernels.cuts_m(cuts_m_inputs(px, pw), amax);
    if (cut.cut1 < 0) continue;
    const int cut1 = cut.cut1, cut2 = cut.cut2;
    float scale = cut.scale;
    int best_pair = cut.choice;
    for (int j = 0; j < kBlockM; ++j) L[order[j].index] = static_cast<int8_t>(j < cut1 ? 0 : (j < cut2 ? 1 : 2));
    if (scale < 0) {
      for (int8_t& l : L) l = static_cast<int8_t>(2 - l);
      scale = -scale;
      best_pair = 3 - best_pair;  // both signs flip
    }
    const float* levels[2] = {levels_m(best_pair, 0), levels_m(best_pair, 1)};
    bool all_exact = true;
    for (int k = 0; k < kBlockM / kGroup; ++k) {
      bool exact;
      points[k] = static_cast<uint16_t>(
          choose_point(t, kernels.search, L + kGroup * k, xb + kGroup * k, wb + kGroup * k, scale, levels[k], &exact));
      all_exact = all_exact && exact;
    }
    if (!all_exact) refit_scale(t, points, levels, kBlockM / kGroup, xb, wb, &scale);
    y->qs[2 * ib + 0] = static_cast<uint8_t>(points[0] & 255);
    y->qs[2 * ib + 1] = static_cast<uint8_t>(points[1] & 255);
    y->qh[ib] = static_cast<uint8_t>((points[0] >> 8) | ((points[1] >> 8) << 4));
    scales[ib] = scale;
    shifts[ib] = best_pair;
    max_scale = max_scale > scale ? max_scale : scale;
  }
  if (max_scale == 0) return;

  // 3-bit block scales 2l+1 against d = max/15, then one least-squares fit
  // of the super-block scale over every group with those block scales (the
  // all-small blocks too: they read as point 0 at l = 0), and the stored
  // fp16 is that times 1.1125, the upstream empirical correction.
  uint16_t sc[4] = {0, 0, 0, 0};
  float d = max_scale / 15;
  const float id = 1 / d;
  float sumqx = 0, sumq2 = 0;
  for (int ib = 0; ib < kSuper / kBlockM; ++ib) {
    int l = nearest_int(0.5f * (id * scales[ib] - 1));
    l = l < 0 ? 0 : (l > 7 ? 7 : l);
    sc[ib / 4] = static_cast<uint16_t>(sc[ib / 4] | (l << 3 * (ib % 4)));
    y->qh[ib] |= kShiftBits[shifts[ib]];
    const float* xb = xbl + kBlockM * ib;
    const float* wb = weight + kBlockM * ib;
    for (int k = 0; k < kBlockM / kGroup; ++k) {
      const float* lv = levels_m(shifts[ib], k);
      const int point = y->qs[2 * ib + k] | (((y->qh[ib] >> 4 * k) & 7) << 8);
      const int8_t* pc = &t.codes[8 * point];
      for (int j = 0; j < kGroup; ++j) {
        const float w = wb[kGroup * k + j];
        const float q = lv[pc[j]] * static_cast<float>(2 * l + 1);
        sumqx += w * q * xb[kGroup * k + j];
        sumq2 += w * q * q;
      }
    }
  }
  if (sumq2 > 0) d = sumqx / sumq2;
  const uint16_t d16 = fp32_to_fp16(d * 1.1125f);
  for (int i = 0; i < 4; ++i) sc[i] = static_cast<uint16_t>(sc[i] | (((d16 >> 4 * i) & 0xf) << 12));
  std::memcpy(y->scales, sc, sizeof(sc));  // little-endian words, as ggml stores them
}

// ---------------------------------------------------------------- kernels

// The reference: qsort, the sequential cut scans above, list scans.
struct ReferenceKernels {
  ScanCandidates search;
  void order(const float* x, int n, ValueAt* out) const { order_by_value(x, n, out); }
  iq1::CutResult cuts_s(const float* sumx, const float* sumw, float amax) const { return cuts_s_ref(sumx, sumw, amax); }
  iq1::CutResult cuts_m(const iq1::CutsM& in, float amax) const { return cuts_m_ref(in, amax); }
};

// The fast path's candidate search: per-coordinate error terms and the SIMD
// lane-per-candidate search (iq_grid_search.h), which adds each candidate's
// terms in the reference's order and keeps the reference's first minimum.
struct SimdCandidates {
  const iq1::SearchTables& t;
  const iq_grid::PaddedLists& lists;
  const std::vector<uint16_t>& all_keys;  // every point's key, in point order
  int operator()(uint16_t key, const float* x, const float* w, float scale, const float* levels) const {
    iq_grid::Terms terms;
    iq_grid::make_terms(x, w, scale, levels, &terms);
    const uint32_t first = lists.first[key];
    const int c = iq_grid::first_best(terms, lists.keys.data() + first, t.count[key]);
    return c >= 0 ? lists.points[first + c] : -1;
  }
  int whole_codebook(const float* x, const float* w, float scale, const float* levels) const {
    iq_grid::Terms terms;
    iq_grid::make_terms(x, w, scale, levels, &terms);
    return iq_grid::first_best(terms, all_keys.data(), iq1::kPoints);
  }
};

// Sorting by value without qsort when no two values compare equal and none
// is NaN: the comparator then defines a strict total order, the sorted
// permutation is unique, and any correct sort returns exactly what qsort
// does. With a tie (including -0 vs +0) or a NaN, qsort itself decides.
void order_by_value_fast(const float* x, int n, ValueAt* order) {
  APEX_CHECK(n <= 64, "order_by_value_fast sorts at most 64 values");
  for (int j = 0; j < n; ++j) {
    if (std::isnan(x[j])) {
      order_by_value(x, n, order);
      return;
    }
  }
  // Each value's rank is the count of values below it (a branch-free loop
  // the compiler vectorises); distinct values have distinct ranks, and a
  // repeated rank means two values compare equal.
  int rank[kSuper];
  for (int i = 0; i < n; ++i) {
    int r = 0;
    for (int j = 0; j < n; ++j) r += x[j] < x[i] ? 1 : 0;
    rank[i] = r;
  }
  uint64_t seen = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t bit = uint64_t{1} << rank[i];
    if ((seen & bit) != 0) {
      order_by_value(x, n, order);
      return;
    }
    seen |= bit;
    order[rank[i]] = {x[i], i};
  }
}

struct FastKernels {
  SimdCandidates search;
  void order(const float* x, int n, ValueAt* out) const { order_by_value_fast(x, n, out); }
  iq1::CutResult cuts_s(const float* sumx, const float* sumw, float amax) const {
    return iq1::best_cuts_s(sumx, sumw, kLevelsPlus, kLevelsMinus, amax);
  }
  iq1::CutResult cuts_m(const iq1::CutsM& in, float amax) const { return iq1::best_cuts_m(in, amax); }
};

const FastKernels& fast_kernels() {
  static const iq_grid::PaddedLists lists = [] {
    const iq1::SearchTables& t = iq1::search_tables();
    return iq_grid::pad_lists(t.first, t.count, t.candidates, iq1::codebook_points());
  }();
  static const std::vector<uint16_t> all_keys(iq1::codebook_points().begin(), iq1::codebook_points().end());
  static const FastKernels kernels{SimdCandidates{iq1::search_tables(), lists, all_keys}};
  return kernels;
}

uint16_t scale_m(const BlockM& b, uint16_t sc[4]) {
  std::memcpy(sc, b.scales, 8);
  return static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
}

bool fp16_finite(uint16_t h) { return (h & 0x7c00) != 0x7c00; }

template <typename Block, typename Fn>
size_t quantize_rows(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix, Fn fn) {
  const iq1::SearchTables& t = iq1::search_tables();
  const int64_t nb = n_per_row / kSuper;
  auto* out = static_cast<Block*>(dst);
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      fn(t, src + r * n_per_row + b * kSuper, imatrix ? imatrix + b * kSuper : nullptr, &out[r * nb + b]);
    }
  }
  return static_cast<size_t>(nrows * nb) * sizeof(Block);
}

}  // namespace

// IQ1_S needs importance weights (ggml asserts on a null imatrix; the type
// table refuses it before we get here). Called directly without one, this
// weighs each value by its square, as IQ1_M does, rather than crash.
size_t quantize_iq1_s_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_rows<BlockS>(src, dst, nrows, n_per_row, imatrix,
                             [](const iq1::SearchTables& t, const float* x, const float* w, BlockS* y) {
                               quantize_block_s(t, ReferenceKernels{ScanCandidates{t}}, x, w, y);
                             });
}

// Same block quantizer with the fast kernels: a sort that defers to qsort on
// ties, the filtered SIMD cut search (iq1_cuts.h) and the SIMD candidate
// search (iq_grid_search.h), each proven to decide exactly as the reference.
size_t quantize_iq1_s(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const FastKernels& kernels = fast_kernels();
  return quantize_rows<BlockS>(src, dst, nrows, n_per_row, imatrix,
                             [&](const iq1::SearchTables& t, const float* x, const float* w, BlockS* y) {
                               quantize_block_s(t, kernels, x, w, y);
                             });
}

void dequantize_iq1_s(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockS*>(src);
  const int8_t* grid = iq1::codebook_values().data();
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const BlockS& x = blocks[b];
    const float d = fp16_to_fp32(x.d);
    for (int ib = 0; ib < kSuper / kBlockS; ++ib) {
      const unsigned qh = x.qh[ib];
      const float dl = d * static_cast<float>(2 * ((qh >> 12) & 7) + 1);
      const float delta = (qh & 0x8000) ? -kDelta : kDelta;
      for (int k = 0; k < 4; ++k) {
        const int point = x.qs[4 * ib + k] | (((qh >> 3 * k) & 7) << 8);
        for (int j = 0; j < kGroup; ++j) *dst++ = dl * (static_cast<float>(grid[8 * point + j]) + delta);
      }
    }
  }
}

bool validate_iq1_s(const void* data, size_t nbytes) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t off = 0; off + sizeof(BlockS) <= nbytes; off += sizeof(BlockS)) {
    uint16_t d;
    std::memcpy(&d, bytes + off, 2);
    if (!fp16_finite(d)) return false;
  }
  return true;
}

size_t quantize_iq1_m_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_rows<BlockM>(src, dst, nrows, n_per_row, imatrix,
                             [](const iq1::SearchTables& t, const float* x, const float* w, BlockM* y) {
                               quantize_block_m(t, ReferenceKernels{ScanCandidates{t}}, x, w, y);
                             });
}

// Same block quantizer with the fast kernels: a sort that defers to qsort on
// ties, the filtered SIMD cut search (iq1_cuts.h) and the SIMD candidate
// search (iq_grid_search.h), each proven to decide exactly as the reference.
size_t quantize_iq1_m(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const FastKernels& kernels = fast_kernels();
  return quantize_rows<BlockM>(src, dst, nrows, n_per_row, imatrix,
                             [&](const iq1::SearchTables& t, const float* x, const float* w, BlockM* y) {
                               quantize_block_m(t, kernels, x, w, y);
                             });
}

void dequantize_iq1_m(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockM*>(src);
  const int8_t* grid = iq1::codebook_values().data();
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const BlockM& x = blocks[b];
    uint16_t sc[4];
    const float d = fp16_to_fp32(scale_m(x, sc));
    for (int ib = 0; ib < kSuper / 32; ++ib) {
      // Two 16-weight halves, each with its own 3-bit scale; four groups
      // with their own high index bits and shift sign.
      for (int k = 0; k < 4; ++k) {
        const int half = k / 2;
        const unsigned l = (sc[ib / 2] >> (6 * (ib % 2) + 3 * half)) & 7;
        const float dl = d * static_cast<float>(2 * l + 1);
        const unsigned qh = x.qh[2 * ib + half] >> (4 * (k % 2));
        const int point = x.qs[4 * ib + k] | ((qh & 7) << 8);
        const float delta = (qh & 8) ? -kDelta : kDelta;
        for (int j = 0; j < kGroup; ++j) *dst++ = dl * (static_cast<float>(grid[8 * point + j]) + delta);
      }
    }
  }
}

bool validate_iq1_m(const void* data, size_t nbytes) {
  const auto* blocks = static_cast<const BlockM*>(data);
  for (size_t i = 0; i < nbytes / sizeof(BlockM); ++i) {
    uint16_t sc[4];
    if (!fp16_finite(scale_m(blocks[i], sc))) return false;
  }
  return true;
}

}  // namespace apex::quant
