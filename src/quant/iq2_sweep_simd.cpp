// SIMD scale sweeps for the IQ2 fast paths (see iq2_sweep.h): one lane per
// candidate scale, each lane performing the reference's float operations in
// the reference's order, so every code and every sum is bit-identical.
//
// Compiled once per instruction set by Highway (foreach_target) and picked
// at run time; a test runs every compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/iq2_sweep_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstdint>

#include "quant/iq2_sweep.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::iq2 {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void RoundSweep(const float* ax, int n, const float* ids, int nscales, int8_t* codes, uint16_t* keys) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<int8_t, decltype(d)> d8;
  const hn::Rebind<uint16_t, decltype(d)> d16;
  const int lanes = static_cast<int>(hn::Lanes(d));
  const auto zero = hn::Zero(di);
  const auto two = hn::Set(di, 2);
  for (int s0 = 0; s0 < nscales; s0 += lanes) {
    const auto id = hn::LoadU(d, ids + s0);
    for (int k = 0; k < n / 8; ++k) {
      auto key = hn::Zero(di);
      for (int j = 0; j < 8; ++j) {
        const int i = 8 * k + j;
        // nearest_int (rounding.h): adding 1.5 * 2^23 leaves the rounded
        // integer in the low mantissa bits (the FPU rounds to nearest even).
        const auto v = hn::Mul(hn::Set(d, 0.5f), hn::Sub(hn::Mul(id, hn::Set(d, ax[i])), hn::Set(d, 1.0f)));
        const auto bits = hn::BitCast(di, hn::Add(v, hn::Set(d, 12582912.0f)));
        auto l = hn::Sub(hn::And(bits, hn::Set(di, 0x007fffff)), hn::Set(di, 0x00400000));
        l = hn::Min(hn::Max(l, zero), two);
        hn::StoreU(hn::DemoteTo(d8, l), d8, codes + i * kMaxScales + s0);
        key = hn::Or(key, hn::ShiftLeftSame(l, 2 * j));
      }
      hn::StoreU(hn::DemoteTo(d16, key), d16, keys + k * kMaxScales + s0);
    }
  }
}

void FitSweep(const float* ax, const float* w, int n, const int8_t* codes, int nscales, float* sumqx, float* sumq2) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<int8_t, decltype(d)> d8;
  const int lanes = static_cast<int>(hn::Lanes(d));
  for (int s0 = 0; s0 < nscales; s0 += lanes) {
    auto qx = hn::Zero(d);
    auto q2 = hn::Zero(d);
    for (int i = 0; i < n; ++i) {
      const auto c = hn::PromoteTo(di, hn::LoadU(d8, codes + i * kMaxScales + s0));
      // q = 2c + 1 is a small integer, exact whichever way it is formed.
      const auto q = hn::ConvertTo(d, hn::Add(hn::Add(c, c), hn::Set(di, 1)));
      const auto wi = hn::Set(d, w[i]);
      qx = hn::Add(qx, hn::Mul(hn::Set(d, w[i] * ax[i]), q));
      q2 = hn::Add(q2, hn::Mul(hn::Mul(wi, q), q));
    }
    hn::StoreU(qx, d, sumqx + s0);
    hn::StoreU(q2, d, sumq2 + s0);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::iq2
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::iq2 {

HWY_EXPORT(RoundSweep);
HWY_EXPORT(FitSweep);

void round_sweep(const float* ax, int n, const float* ids, int nscales, int8_t* codes, uint16_t* keys) {
  HWY_DYNAMIC_DISPATCH(RoundSweep)(ax, n, ids, nscales, codes, keys);
}

void fit_sweep(const float* ax, const float* w, int n, const int8_t* codes, int nscales, float* sumqx,
               float* sumq2) {
  HWY_DYNAMIC_DISPATCH(FitSweep)(ax, w, n, codes, nscales, sumqx, sumq2);
}

}  // namespace apex::quant::iq2
#endif  // HWY_ONCE
