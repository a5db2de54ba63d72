// Highway kernels for MXFP4 and NVFP4 (see fp4_simd.h for the contract).
// Compiled once per target through foreach_target; the dispatch wrappers at
// the bottom pick the best target at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/fp4_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <array>
#include <cstring>

#include "quant/fp4_simd.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::fp4_simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// MXFP4 pairs values j and j + 16 in byte j, NVFP4 values j and j + 8 of a
// 16-value group: vectors of at most 16 and 8 lanes cover those halves.
using DF16 = hn::CappedTag<float, 16>;
using DF8 = hn::CappedTag<float, 8>;

constexpr size_t kMxBlock = 32;
constexpr size_t kMxBytes = 17;
constexpr size_t kNvBlock = 64;
constexpr size_t kNvGroup = 16;
constexpr size_t kNvBytes = 36;

// The non-negative half of ggml's doubled E2M1 levels (codes 0..7); code
// 8 + c is -kLevels[c].
constexpr int kLevels[8] = {0, 1, 2, 3, 4, 6, 8, 12};

// Largest |x| of n values. The reference's `if (amax < |x|)` keeps amax when
// |x| is NaN, and so does this compare-and-select, lane by lane; the lanes
// then hold no NaN, so reducing them in any order gives the same value.
HWY_INLINE float abs_max(const float* x, size_t n) {
  const DF16 df;
  const size_t lanes = hn::Lanes(df);
  auto vmax = hn::Zero(df);
  for (size_t j = 0; j < n; j += lanes) {
    const auto a = hn::Abs(hn::LoadU(df, x + j));
    vmax = hn::IfThenElse(hn::Lt(vmax, a), a, vmax);
  }
  return hn::GetLane(hn::MaxOfLanes(df, vmax));
}

// The reference's nearest_code: the first code c of 0..15 with the least
// |kLevels[c] * scale - x|. Only half the codes need trying. Code 0's error
// is |x|. For x >= 0 (or NaN) a negative level's error is |x| + level * scale
// rounded, never below |x|, so codes 8..15 never win; for x < 0 the same
// holds for codes 1..8, and code 8 + c's error is code c's error for |x|
// (the products are exact negations and rounding to nearest is symmetric).
// So: search codes 0..7 on |x| in the reference's order and keep its strict
// "less than" (the first of equal errors wins, NaN errors never do), then
// move a nonzero code of a negative x to its negative twin.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> fp4_codes(D d, hn::Vec<D> x, const float* products) {
  const hn::RebindToSigned<D> di;
  const auto a = hn::Abs(x);
  auto best_err = a;  // code 0: |0 * scale - x|
  auto best = hn::Zero(di);
  for (int c = 1; c < 8; ++c) {
    const auto err = hn::Abs(hn::Sub(hn::Set(d, products[c]), a));
    const auto better = hn::Lt(err, best_err);
    best_err = hn::IfThenElse(better, err, best_err);
    best = hn::IfThenElse(hn::RebindMask(di, better), hn::Set(di, c), best);
  }
  const auto negative = hn::And(hn::RebindMask(di, hn::Lt(x, hn::Zero(d))), hn::Ne(best, hn::Zero(di)));
  return hn::Or(best, hn::IfThenElseZero(negative, hn::Set(di, 8)));
}

// Codes of 2 * half values at x against one scale, packed as the reference's
// encode_group: byte j holds value j (low nibble) and j + half (high).
template <class D>
HWY_INLINE void encode_group(D d, const float* x, size_t half, float scale, uint8_t* qs) {
  const hn::Rebind<uint8_t, D> du8;
  const size_t lanes = hn::Lanes(d);
  float products[8];
  for (int c = 0; c < 8; ++c) products[c] = kLevels[c] * scale;  // as the reference rounds them
  for (size_t j = 0; j < half; j += lanes) {
    const auto lo = fp4_codes(d, hn::LoadU(d, x + j), products);
    const auto hi = fp4_codes(d, hn::LoadU(d, x + j + half), products);
    hn::StoreU(hn::DemoteTo(du8, hn::Or(lo, hn::ShiftLeft<4>(hi))), du8, qs + j);
  }
}

void QuantizeMxfp4Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  const DF16 df;
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kMxBlock;
    uint8_t* out = dst + b * kMxBytes;
    const uint8_t e = fp4_detail::mxfp4_exponent(abs_max(x, kMxBlock));
    out[0] = e;
    encode_group(df, x, kMxBlock / 2, fp4_detail::mxfp4_half_scale(e), out + 1);
  }
}

// half_scales[code] = fp4_detail::nvfp4_half_scale(code), looked up once.
void QuantizeNvfp4Blocks(const float* src, uint8_t* dst, int64_t nblocks, const float* half_scales) {
  const DF8 df;
  for (int64_t b = 0; b < nblocks; ++b) {
    uint8_t* out = dst + b * kNvBytes;
    for (size_t s = 0; s < kNvBlock / kNvGroup; ++s) {
      const float* x = src + b * kNvBlock + s * kNvGroup;
      const uint8_t code = fp4_detail::nvfp4_scale_code(abs_max(x, kNvGroup));
      out[s] = code;
      encode_group(df, x, kNvGroup / 2, half_scales[code], out + 4 + s * (kNvGroup / 2));
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::fp4_simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::fp4_simd {

HWY_EXPORT(QuantizeMxfp4Blocks);
HWY_EXPORT(QuantizeNvfp4Blocks);

void quantize_mxfp4_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeMxfp4Blocks)(src, dst, nblocks);
}

void quantize_nvfp4_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  // The reference decodes its scale byte with ldexp per group; a table of the
  // same values saves the calls.
  static const std::array<float, 256> kHalfScales = [] {
    std::array<float, 256> t{};
    for (int code = 0; code < 256; ++code) t[code] = fp4_detail::nvfp4_half_scale(static_cast<uint8_t>(code));
    return t;
  }();
  HWY_DYNAMIC_DISPATCH(QuantizeNvfp4Blocks)(src, dst, nblocks, kHalfScales.data());
}

}  // namespace apex::quant::fp4_simd
#endif  // HWY_ONCE
