// Highway kernels for TQ1_0 and TQ2_0 (see ternary_simd.h for the contract).
// Compiled once per target through foreach_target; the dispatch wrappers at
// the bottom pick the best target at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/ternary_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/ternary_simd.h"
#include "quant/ternary.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::ternary_simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 float lanes: the 32- and 16-byte runs of a block are then whole
// numbers of vectors. DF4 covers TQ1_0's last four bytes.
using DF = hn::CappedTag<float, 16>;
using DF4 = hn::CappedTag<float, 4>;

constexpr size_t kSuper = 256;
constexpr size_t kTq1Bytes = 54;
constexpr size_t kTq2Bytes = 66;

// (n * kDiv243Mul) >> 24 == n / 243 for every n = v * 256 + 242 with v a
// five-trit number (0..242); the products stay below 2^32.
constexpr uint32_t kDiv243Mul = 69043;  // ceil(2^24 / 243)
constexpr bool div243_is_exact() {
  for (uint32_t v = 0; v <= 242; ++v) {
    const uint32_t n = v * 256 + 242;
    if ((n * kDiv243Mul) >> 24 != n / 243) return false;
  }
  return true;
}
static_assert(div243_is_exact());

// Largest |x| of n values. Without NaN, ggml's running MAX(amax, |x|) is
// the plain maximum, which lanes can reduce in any order.
template <class D>
HWY_INLINE float abs_max(D d, const float* x, size_t n) {
  const size_t lanes = hn::Lanes(d);
  auto vmax = hn::Zero(d);
  for (size_t j = 0; j < n; j += lanes) {
    const auto a = hn::Abs(hn::LoadU(d, x + j));
    vmax = hn::IfThenElse(hn::Lt(vmax, a), a, vmax);
  }
  return hn::GetLane(hn::MaxOfLanes(d, vmax));
}

// A NaN makes ggml's running maximum NaN until the next value replaces it,
// so the block's scale can end up below some of its values and codes
// overflow the -1..+1 range the lane code assumes. Such blocks (never seen
// in a real model: the pipeline refuses non-finite weights) go through the
// scalar reference.
template <class D>
HWY_INLINE bool has_nan(D d, const float* x, size_t n) {
  const size_t lanes = hn::Lanes(d);
  auto any = hn::FirstN(d, 0);  // all false
  for (size_t j = 0; j < n; j += lanes) {
    const auto v = hn::LoadU(d, x + j);
    any = hn::Or(any, hn::IsNaN(v));
  }
  return !hn::AllFalse(d, any);
}

// lround(x * id) + 1 as the reference computes it, in int32 lanes. A finite
// product lies within 1 + 2^-23 of zero (|x| <= amax and id is amax's rounded
// reciprocal), so lround yields -1, 0 or +1, and rounding half away from zero
// is comparing with +-0.5. An infinite or NaN product (infinite amax: id = 0
// times an infinity; subnormal amax: id = inf; NaN inputs) makes lround
// return LONG_MIN, which the reference's narrowing to int turns into 0: the
// same trit 1 as a zero product, so those lanes are zeroed first.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> trits(D d, hn::Vec<D> x, hn::Vec<D> id) {
  const hn::RebindToSigned<D> di;
  const auto v = hn::Mul(x, id);
  const auto finite = hn::IfThenElseZero(hn::Lt(hn::Abs(v), hn::Set(d, HUGE_VALF)), v);
  // VecFromMask is -1 where the comparison holds.
  const auto up = hn::VecFromMask(di, hn::RebindMask(di, hn::Ge(finite, hn::Set(d, 0.5f))));
  const auto down = hn::VecFromMask(di, hn::RebindMask(di, hn::Le(finite, hn::Set(d, -0.5f))));
  return hn::Add(hn::Sub(hn::Set(di, 1), up), down);
}

// Base-3 number of `count` trits from x[0], x[stride], ... (first most
// significant), times 3 per missing digit up to five, then stored as
// ceil(v * 256 / 243): pack_trits of the reference, one byte per lane. v
// never exceeds 242, so the reference's 8-bit wrap-around never happens.
template <class D>
HWY_INLINE void pack_trits(D d, const float* x, size_t stride, int count, hn::Vec<D> id,
                           uint8_t* out) {
  const hn::RebindToSigned<D> di;
  const hn::RebindToUnsigned<D> du;
  const hn::Rebind<uint8_t, D> du8;
  auto v = hn::Zero(di);
  for (int n = 0; n < 5; ++n) {
    v = hn::Add(hn::ShiftLeft<1>(v), v);  // v * 3
    if (n < count) v = hn::Add(v, trits(d, hn::LoadU(d, x + n * stride), id));
  }
  const auto scaled = hn::BitCast(du, hn::Add(hn::ShiftLeft<8>(v), hn::Set(di, 242)));
  const auto q = hn::ShiftRight<24>(hn::Mul(scaled, hn::Set(du, kDiv243Mul)));
  hn::StoreU(hn::DemoteTo(du8, hn::BitCast(di, q)), du8, out);
}

HWY_INLINE float reciprocal_or_zero(float amax) { return amax ? 1.0f / amax : 0.0f; }

HWY_INLINE void store_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, sizeof h);
}

// Layout (see quantize_tq1_0_ref): qs[0..32) hold values m + 32n, qs[32..48)
// values 160 + m + 16n, qh[0..4) values 240 + m + 4n, then the fp16 scale.
void QuantizeTq1Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  const DF df;
  const DF4 df4;
  const size_t lanes = hn::Lanes(df);
  const size_t lanes4 = hn::Lanes(df4);
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kSuper;
    uint8_t* out = dst + b * kTq1Bytes;
    if (has_nan(df, x, kSuper)) {
      quantize_tq1_0_ref(x, out, 1, kSuper, nullptr);
      continue;
    }
    const float amax = abs_max(df, x, kSuper);
    const float id = reciprocal_or_zero(amax);
    const auto vid = hn::Set(df, id);
    for (size_t m = 0; m < 32; m += lanes) pack_trits(df, x + m, 32, 5, vid, out + m);
    for (size_t m = 0; m < 16; m += lanes) pack_trits(df, x + 160 + m, 16, 5, vid, out + 32 + m);
    const auto vid4 = hn::Set(df4, id);
    for (size_t m = 0; m < 4; m += lanes4) pack_trits(df4, x + 240 + m, 4, 4, vid4, out + 48 + m);
    store_half(out + 52, amax);
  }
}

// Byte m of each 32-byte group holds the codes of values m, m + 32, m + 64,
// m + 96 of its 128 in bit pairs 0-1, 2-3, 4-5, 6-7; the fp16 scale follows.
void QuantizeTq2Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint8_t, DF> du8;
  const size_t lanes = hn::Lanes(df);
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kSuper;
    uint8_t* out = dst + b * kTq2Bytes;
    if (has_nan(df, x, kSuper)) {
      quantize_tq2_0_ref(x, out, 1, kSuper, nullptr);
      continue;
    }
    const float amax = abs_max(df, x, kSuper);
    const auto vid = hn::Set(df, reciprocal_or_zero(amax));
    for (size_t group = 0; group < 2; ++group) {
      const float* xg = x + group * 128;
      for (size_t m = 0; m < 32; m += lanes) {
        const auto q0 = trits(df, hn::LoadU(df, xg + m), vid);
        const auto q1 = trits(df, hn::LoadU(df, xg + m + 32), vid);
        const auto q2 = trits(df, hn::LoadU(df, xg + m + 64), vid);
        const auto q3 = trits(df, hn::LoadU(df, xg + m + 96), vid);
        const auto packed = hn::Or(hn::Or(q0, hn::ShiftLeft<2>(q1)),
                                   hn::Or(hn::ShiftLeft<4>(q2), hn::ShiftLeft<6>(q3)));
        hn::StoreU(hn::DemoteTo(du8, packed), du8, out + group * 32 + m);
      }
    }
    store_half(out + 64, amax);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::ternary_simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::ternary_simd {

HWY_EXPORT(QuantizeTq1Blocks);
HWY_EXPORT(QuantizeTq2Blocks);

void quantize_tq1_0_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeTq1Blocks)(src, dst, nblocks);
}
void quantize_tq2_0_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeTq2Blocks)(src, dst, nblocks);
}

}  // namespace apex::quant::ternary_simd
#endif  // HWY_ONCE
