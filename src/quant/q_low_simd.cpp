// Highway kernels for Q1_0 and Q2_0 (see q_low_simd.h for the contract).
// Compiled once per target through foreach_target; the dispatch wrappers at
// the bottom pick the best target at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q_low_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/q_low_simd.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::q_low_simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 float lanes: a 64-value Q2_0 block is then whole calls of
// LoadInterleaved4 (4 vectors) and a Q1_0 block whole vectors.
using DF = hn::CappedTag<float, 16>;
using DI = hn::RebindToSigned<DF>;
using DU8 = hn::Rebind<uint8_t, DF>;

constexpr int kBlock1 = 128;
constexpr int kBlock2 = 64;
constexpr size_t kBlockBytes = 18;  // both formats: fp16 scale + 16 bytes of codes

HWY_INLINE void store_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, sizeof h);
}

// Sum of |x| over each of K consecutive Q1_0 blocks, each block's values
// added in order from 0 as the reference does. The K sums are independent
// chains, interleaved so that their add latencies overlap; the compiler may
// not reassociate them (no -ffast-math), so each keeps the reference's order.
template <int K>
HWY_INLINE void abs_sums(const float* x, float* sums) {
  float s[K] = {};
  for (int j = 0; j < kBlock1; ++j) {
    for (int k = 0; k < K; ++k) s[k] += std::fabs(x[k * kBlock1 + j]);
  }
  for (int k = 0; k < K; ++k) sums[k] = s[k];
}

// Bit j of qs (byte j / 8, bit j % 8) is set for x[j] >= 0: -0 counts as
// positive, NaN as negative, as in the reference.
HWY_INLINE void sign_bits(const float* x, uint8_t* qs) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  const auto zero = hn::Zero(df);
  if (lanes >= 8) {  // whole bytes per vector: StoreMaskBits writes lane i as bit i
    for (size_t j = 0; j < kBlock1; j += lanes) {
      hn::StoreMaskBits(df, hn::Ge(hn::LoadU(df, x + j), zero), qs + j / 8);
    }
    return;
  }
  std::memset(qs, 0, kBlock1 / 8);
  for (size_t j = 0; j < kBlock1; j += lanes) {
    uint8_t bits[8];
    hn::StoreMaskBits(df, hn::Ge(hn::LoadU(df, x + j), zero), bits);
    qs[j / 8] = static_cast<uint8_t>(qs[j / 8] | (bits[0] << (j % 8)));
  }
}

void QuantizeQ1Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  constexpr int kInterleave = 8;
  float sums[kInterleave];
  for (int64_t b = 0; b < nblocks; b += kInterleave) {
    const float* x = src + b * kBlock1;
    const int count = static_cast<int>(std::min<int64_t>(kInterleave, nblocks - b));
    if (count == kInterleave) {
      abs_sums<kInterleave>(x, sums);
    } else {
      for (int k = 0; k < count; ++k) abs_sums<1>(x + k * kBlock1, sums + k);
    }
    for (int k = 0; k < count; ++k) {
      uint8_t* out = dst + (b + k) * kBlockBytes;
      store_half(out, sums[k] / kBlock1);
      sign_bits(x + k * kBlock1, out + 2);
    }
  }
}

// Largest |x| of n values. The reference's `if (|x| > amax)` keeps amax when
// |x| is NaN, and so does this compare-and-select, lane by lane; the lanes
// then hold no NaN, so reducing them in any order gives the same value.
HWY_INLINE float abs_max(const float* x, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  auto vmax = hn::Zero(df);
  for (size_t j = 0; j < n; j += lanes) {
    const auto a = hn::Abs(hn::LoadU(df, x + j));
    vmax = hn::IfThenElse(hn::Lt(vmax, a), a, vmax);
  }
  return hn::GetLane(hn::MaxOfLanes(df, vmax));
}

// The reference's code for v = x * id: (int)roundf(v) + 1, clamped to 0..3,
// where a rounded value outside int's range (NaN or infinite v, from NaN
// inputs or a subnormal amax's infinite reciprocal) reads as INT32_MIN, code
// 0. roundf rounds halves away from zero, so the code steps exactly at -0.5,
// 0.5 and 1.5, and every float from 2^31 up rounds out of range.
HWY_INLINE hn::Vec<DI> q2_codes(hn::Vec<DF> v) {
  const DF df;
  const DI di;
  const auto in_range = hn::And(hn::Gt(v, hn::Set(df, -0.5f)), hn::Lt(v, hn::Set(df, 2147483648.0f)));
  // VecFromMask is -1 where the comparison holds.
  const auto up1 = hn::VecFromMask(di, hn::RebindMask(di, hn::Ge(v, hn::Set(df, 0.5f))));
  const auto up2 = hn::VecFromMask(di, hn::RebindMask(di, hn::Ge(v, hn::Set(df, 1.5f))));
  return hn::IfThenElseZero(hn::RebindMask(di, in_range), hn::Sub(hn::Sub(hn::Set(di, 1), up1), up2));
}

void QuantizeQ2Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  const DF df;
  const DU8 du8;
  const size_t lanes = hn::Lanes(df);
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kBlock2;
    uint8_t* out = dst + b * kBlockBytes;
    const float amax = abs_max(x, kBlock2);
    const float id = amax > 0.0f ? 1.0f / amax : 0.0f;
    store_half(out, amax);
    const auto vid = hn::Set(df, id);
    // Four consecutive values share a byte, value j in bits 2 * (j % 4).
    for (size_t j = 0; j < kBlock2; j += 4 * lanes) {
      hn::Vec<DF> v0, v1, v2, v3;
      hn::LoadInterleaved4(df, x + j, v0, v1, v2, v3);
      const auto c0 = q2_codes(hn::Mul(v0, vid));
      const auto c1 = q2_codes(hn::Mul(v1, vid));
      const auto c2 = q2_codes(hn::Mul(v2, vid));
      const auto c3 = q2_codes(hn::Mul(v3, vid));
      const auto packed = hn::Or(hn::Or(c0, hn::ShiftLeft<2>(c1)),
                                 hn::Or(hn::ShiftLeft<4>(c2), hn::ShiftLeft<6>(c3)));
      hn::StoreU(hn::DemoteTo(du8, packed), du8, out + 2 + j / 4);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::q_low_simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::q_low_simd {

HWY_EXPORT(QuantizeQ1Blocks);
HWY_EXPORT(QuantizeQ2Blocks);

void quantize_q1_0_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ1Blocks)(src, dst, nblocks);
}
void quantize_q2_0_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ2Blocks)(src, dst, nblocks);
}

}  // namespace apex::quant::q_low_simd
#endif  // HWY_ONCE
