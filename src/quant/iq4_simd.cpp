// Fast path of IQ4_NL and IQ4_XS (see iq4.cpp for the reference it must equal
// byte for byte).
//
// Nearly all of the reference's time goes into scoring 16 candidate scales
// per 32-value block: for each, every value is mapped to its nearest level
// (a bisection) and two weighted sums are accumulated. Here one SIMD lane
// scores one candidate: lane c runs candidate c's loop over the 32 values
// with the reference's own operations in its order (id * x, then
// (w * q) * x and (w * q) * q added in value order), so each lane's sums are
// bit-identical to the reference's. The bisection becomes 15 compares against
// the thresholds of level_thresholds() (same index for every float, NaN
// included, see nearest_value). Choosing among the candidates, the block
// scale quantization and the packing stay scalar, as in the reference.
//
// No fused multiply-add anywhere (the reference rounds each product), no
// horizontal sums. Compiled once per instruction set by Highway
// (foreach_target) and picked at run time; a test runs every target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/iq4_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/iq4_internal.h"
#include "quant/rounding.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::iq4 {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, 16>;
using DI = hn::RebindToSigned<DF>;

// The start plus 2 * kTries + 1 tries; a multiple of every lane count <= 16.
constexpr int kCandidates = 2 * kTries + 2;

// The level nearest v, as a float: kLevels[nearest_level(v)]. Scanning k
// downward, each lane ends on the smallest k with v < t[k], whose level is
// k - 1; a lane with no such k (v >= t[15], or NaN, for which every ordered
// compare is false) keeps level 15, which is where the reference's bisection
// ends for NaN too.
template <class V>
HWY_INLINE V nearest_value(DF df, V v, const float* thr) {
  V q = hn::Set(df, static_cast<float>(kLevels[15]));
  for (int k = 15; k >= 1; --k) {
    q = hn::IfThenElse(hn::Lt(v, hn::Set(df, thr[k])), hn::Set(df, static_cast<float>(kLevels[k - 1])), q);
  }
  return q;
}

// Same scan, giving the index nearest_level(v).
template <class V>
HWY_INLINE hn::Vec<DI> nearest_index(DF df, V v, const float* thr) {
  const DI di;
  auto l = hn::Set(di, 15);
  for (int k = 15; k >= 1; --k) {
    l = hn::IfThenElse(hn::RebindMask(di, hn::Lt(v, hn::Set(df, thr[k]))), hn::Set(di, k - 1), l);
  }
  return l;
}

// sumqx[c], sumq2[c] for the inverse scales ids[c] of one block: the
// reference's inner loop, one candidate per lane.
void score_candidates(const float* xb, const float* w, const float* ids, const float* thr, float* sumqx,
                      float* sumq2) {
  const DF df;
  const int n = static_cast<int>(hn::Lanes(df));
  for (int c = 0; c < kCandidates; c += n) {
    const auto id = hn::LoadU(df, ids + c);
    auto sx = hn::Zero(df);
    auto s2 = hn::Zero(df);
    for (int j = 0; j < kBlock; ++j) {
      const auto x = hn::Set(df, xb[j]);
      const auto q = nearest_value(df, hn::Mul(id, x), thr);
      const auto wq = hn::Mul(hn::Set(df, w[j]), q);
      sx = hn::Add(sx, hn::Mul(wq, x));
      s2 = hn::Add(s2, hn::Mul(wq, q));
    }
    hn::StoreU(sx, df, sumqx + c);
    hn::StoreU(s2, df, sumq2 + c);
  }
}

// L[j] = nearest_level(id * x[j]) for n values (n a multiple of 32).
void level_indices(const float* x, int n, float id, const float* thr, uint8_t* L) {
  const DF df;
  const DI di;
  const int lanes = static_cast<int>(hn::Lanes(df));
  HWY_ALIGN int32_t idx[kBlock];
  for (int b = 0; b < n; b += kBlock) {
    for (int j = 0; j < kBlock; j += lanes) {
      hn::Store(nearest_index(df, hn::Mul(hn::Set(df, id), hn::LoadU(df, x + b + j)), thr), di, idx + j);
    }
    for (int j = 0; j < kBlock; ++j) L[b + j] = static_cast<uint8_t>(idx[j]);
  }
}

// The reference's quantize_super_block (iq4.cpp), step for step.
void quantize_super_block(const int n, const float* x, const float* importance, const float* thr,
                          uint16_t* out_d, uint8_t* q4, uint16_t* scales_h, uint8_t* scales_l) {
  const DF df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  const int n_blocks = n / kBlock;
  float scales[kSuper / kBlock];
  HWY_ALIGN float weight[kBlock];
  HWY_ALIGN float ids[kCandidates];
  HWY_ALIGN float sumqx[kCandidates];
  HWY_ALIGN float sumq2[kCandidates];
  uint8_t L[kSuper];

  // Sequential, in value order, as the reference sums.
  float sigma2 = 0;
  for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / n;

  std::memset(q4, 0, n / 2);
  *out_d = fp32_to_fp16(0.f);

  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < n_blocks; ++ib) {
    const float* xb = x + ib * kBlock;
    // Element-wise, so lanes over values round exactly as the reference.
    if (importance != nullptr) {
      const float* qw = importance + ib * kBlock;
      const auto s2 = hn::Set(df, sigma2);
      for (int j = 0; j < kBlock; j += lanes) {
        const auto v = hn::LoadU(df, xb + j);
        hn::Store(hn::Mul(hn::LoadU(df, qw + j), hn::Sqrt(hn::Add(s2, hn::Mul(v, v)))), df, weight + j);
      }
    } else {
      for (int j = 0; j < kBlock; j += lanes) {
        const auto v = hn::LoadU(df, xb + j);
        hn::Store(hn::Mul(v, v), df, weight + j);
      }
    }
    float amax = 0, max = 0;
    for (int j = 0; j < kBlock; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax < kTinyGroup) {
      scales[ib] = 0;
      continue;
    }
    // Candidate 0 is the reference's start (the extreme onto -127), candidate
    // 1 + (t + kTries) its try t; the divisions are the reference's.
    const float d0 = -max / kLevels[0];
    ids[0] = 1 / d0;
    for (int t = -kTries; t <= kTries; ++t) ids[1 + t + kTries] = (t + kLevels[0]) / max;
    score_candidates(xb, weight, ids, thr, sumqx, sumq2);

    float d = sumq2[0] > 0 ? sumqx[0] / sumq2[0] : 0.f;
    float best = d * sumqx[0];
    for (int c = 1; c < kCandidates; ++c) {
      if (sumq2[c] > 0 && sumqx[c] * sumqx[c] > best * sumq2[c]) {
        d = sumqx[c] / sumq2[c];
        best = d * sumqx[c];
      }
    }
    scales[ib] = d;
    const float abs_d = std::fabs(d);
    if (abs_d > amax_scale) {
      amax_scale = abs_d;
      max_scale = d;
    }
  }

  if (n_blocks > 1) {
    std::memset(scales_h, 0, ((n_blocks + 7) / 8) * sizeof(uint16_t));
    const float d = -max_scale / 32;
    *out_d = fp32_to_fp16(d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < n_blocks; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = l < -32 ? -32 : (l > 31 ? 31 : l);
      const float dl = d * l;
      const float idl = dl ? 1 / dl : 0.f;
      level_indices(x + ib * kBlock, kBlock, idl, thr, L + ib * kBlock);
      l += 32;
      const uint8_t low = l & 0xf, high = static_cast<uint8_t>(l >> 4);
      if (ib % 2 == 0) {
        scales_l[ib / 2] = low;
      } else {
        scales_l[ib / 2] |= static_cast<uint8_t>(low << 4);
      }
      scales_h[ib / 8] = static_cast<uint16_t>(scales_h[ib / 8] | (high << 2 * (ib % 8)));
    }
  } else {
    *out_d = fp32_to_fp16(scales[0]);
    const float id = scales[0] ? 1 / scales[0] : 0;
    level_indices(x, n, id, thr, L);
  }

  for (int i = 0; i < n / kBlock; ++i) {
    for (int j = 0; j < 16; ++j) q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
  }
}

void QuantizeNlRows(const float* src, BlockNL* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const float* thr = level_thresholds();
  const int64_t nb = n_per_row / kBlock;
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockNL& blk = dst[r * nb + b];
      quantize_super_block(kBlock, src + r * n_per_row + b * kBlock, imatrix ? imatrix + b * kBlock : nullptr, thr,
                           &blk.d, blk.qs, nullptr, nullptr);
    }
  }
}

void QuantizeXsRows(const float* src, BlockXS* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const float* thr = level_thresholds();
  const int64_t nb = n_per_row / kSuper;
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockXS& blk = dst[r * nb + b];
      quantize_super_block(kSuper, src + r * n_per_row + b * kSuper, imatrix ? imatrix + b * kSuper : nullptr, thr,
                           &blk.d, blk.qs, &blk.scales_h, blk.scales_l);
    }
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::iq4
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::iq4 {

HWY_EXPORT(QuantizeNlRows);
HWY_EXPORT(QuantizeXsRows);
HWY_EXPORT(TargetName);

void quantize_nl_rows(const float* src, BlockNL* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  HWY_DYNAMIC_DISPATCH(QuantizeNlRows)(src, dst, nrows, n_per_row, imatrix);
}
void quantize_xs_rows(const float* src, BlockXS* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  HWY_DYNAMIC_DISPATCH(QuantizeXsRows)(src, dst, nrows, n_per_row, imatrix);
}
const char* simd_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace apex::quant::iq4
#endif  // HWY_ONCE
