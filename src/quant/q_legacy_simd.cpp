// Highway kernels for float_types and q_legacy (see q_legacy_simd.h for the
// contract). Compiled once per target through foreach_target; the dispatch
// wrappers at the bottom pick the best target at run time.
//
// Byte identity rules followed here: per element, the same correctly rounded
// IEEE operations (add, sub, mul, div) in the same order as the scalar code,
// plus exact conversions; never MulAdd (an FMA rounds once where the reference
// rounds twice); float sums are only accumulated in element order, never
// reassociated across lanes. Max and min reductions are order independent for
// finite data, which is why blocks holding NaN or infinity go to the scalar
// reference.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q_legacy_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/q_legacy_simd.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::legacy_simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 float lanes: a block of 32 is then a whole number of vectors and
// a 16-element half block (one byte of nibbles per element pair) too.
using DF = hn::CappedTag<float, 16>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;
using DU16 = hn::Rebind<uint16_t, DF>;
using DU8 = hn::Rebind<uint8_t, DF>;
using DI8 = hn::Rebind<int8_t, DF>;

constexpr int kBlock = 32;
constexpr int kHalfBlock = 16;

void store_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, sizeof h);
}

float load_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return fp16_to_fp32(h);
}

// ---- element conversions -------------------------------------------------------

// float -> half, round to nearest even (same bits as fp32_to_fp16).
// Normal results: re-bias the exponent, then round away 13 mantissa bits by
// adding 0xFFF plus the lowest kept bit (the usual ties-to-even integer trick);
// a mantissa carry bumps the exponent, and anything past the largest half
// saturates to infinity. Subnormal results: adding 0.5f places the value in a
// binade whose ulp is 2^-24, the half subnormal step, so the FPU's own
// rounding produces the code in the low mantissa bits.
template <class V>
HWY_INLINE hn::Vec<DI> f32_to_f16_bits(V v) {
  const DF df;
  const DI di;
  const auto bits = hn::BitCast(di, v);
  const auto abs_bits = hn::And(bits, hn::Set(di, 0x7fffffff));
  const auto sign = hn::And(hn::ShiftRight<16>(bits), hn::Set(di, 0x8000));

  const auto rebiased = hn::Sub(abs_bits, hn::Set(di, 0x38000000));
  const auto lowest_kept = hn::And(hn::ShiftRight<13>(rebiased), hn::Set(di, 1));
  auto normal = hn::ShiftRight<13>(hn::Add(hn::Add(rebiased, hn::Set(di, 0x0fff)), lowest_kept));
  normal = hn::Min(normal, hn::Set(di, 0x7c00));

  const auto shifted = hn::Add(hn::BitCast(df, abs_bits), hn::Set(df, 0.5f));
  const auto subnormal = hn::Sub(hn::BitCast(di, shifted), hn::Set(di, 0x3f000000));

  auto h = hn::IfThenElse(hn::Lt(abs_bits, hn::Set(di, 0x38800000)), subnormal, normal);
  h = hn::IfThenElse(hn::Gt(abs_bits, hn::Set(di, 0x7f800000)), hn::Set(di, 0x7e00), h);
  return hn::Or(h, sign);
}

// half bits (zero-extended in 32-bit lanes) -> float, exact; NaNs come back
// quiet like ggml's conversion makes them.
HWY_INLINE hn::Vec<DF> f16_bits_to_f32(hn::Vec<DI> h) {
  const DF df;
  const DI di;
  const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(di, 0x8000)));
  const auto magnitude = hn::And(h, hn::Set(di, 0x7fff));
  const auto mantissa = hn::And(h, hn::Set(di, 0x03ff));
  // Normal: exponent re-biased from 15 to 127 (add 112 << 23).
  const auto normal = hn::Add(hn::ShiftLeft<13>(magnitude), hn::Set(di, 0x38000000));
  // Subnormal or zero: mantissa * 2^-24, exact in float.
  const auto subnormal =
      hn::BitCast(di, hn::Mul(hn::ConvertTo(df, mantissa), hn::Set(df, 0x1p-24f)));
  // Infinity or NaN: keep the payload, set the quiet bit when it is a NaN.
  const auto quiet = hn::IfThenElseZero(hn::Ne(mantissa, hn::Zero(di)), hn::Set(di, 0x00400000));
  const auto special = hn::Or(hn::Or(hn::Set(di, 0x7f800000), hn::ShiftLeft<13>(mantissa)), quiet);

  const auto exponent_bits = hn::And(h, hn::Set(di, 0x7c00));
  auto out = hn::IfThenElse(hn::Eq(exponent_bits, hn::Zero(di)), subnormal, normal);
  out = hn::IfThenElse(hn::Eq(exponent_bits, hn::Set(di, 0x7c00)), special, out);
  return hn::BitCast(df, hn::Or(out, sign));
}

void Fp32ToFp16Row(const float* src, uint16_t* dst, int64_t n) {
  const DF df;
  const DU16 du16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto h = f32_to_f16_bits(hn::LoadU(df, src + i));
    hn::StoreU(hn::DemoteTo(du16, h), du16, dst + i);  // h is in 0..0xFFFF: exact
  }
  for (; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

void Fp16ToFp32Row(const uint16_t* src, float* dst, int64_t n) {
  const DF df;
  const DI di;
  const DU16 du16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(f16_bits_to_f32(hn::PromoteTo(di, hn::LoadU(du16, src + i))), df, dst + i);
  }
  for (; i < n; ++i) dst[i] = legacy_detail::fp16_to_fp32_quiet(src[i]);
}

// float -> bfloat16: round the low 16 bits away, ties to even; NaN keeps its
// top bits and is made quiet (same bits as fp32_to_bf16).
void Fp32ToBf16Row(const float* src, uint16_t* dst, int64_t n) {
  const DF df;
  const DI di;
  const DU du;
  const DU16 du16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto bits = hn::BitCast(du, hn::LoadU(df, src + i));
    const auto top = hn::ShiftRight<16>(bits);
    const auto bias = hn::Add(hn::Set(du, 0x7fffu), hn::And(top, hn::Set(du, 1u)));
    const auto rounded = hn::ShiftRight<16>(hn::Add(bits, bias));
    const auto abs_bits = hn::BitCast(di, hn::And(bits, hn::Set(du, 0x7fffffffu)));
    const auto is_nan = hn::RebindMask(du, hn::Gt(abs_bits, hn::Set(di, 0x7f800000)));
    const auto b = hn::IfThenElse(is_nan, hn::Or(top, hn::Set(du, 0x40u)), rounded);
    hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di, b)), du16, dst + i);  // b <= 0xFFFF
  }
  for (; i < n; ++i) dst[i] = fp32_to_bf16(src[i]);
}

void Bf16ToFp32Row(const uint16_t* src, float* dst, int64_t n) {
  const DF df;
  const DU du;
  const DU16 du16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto wide = hn::PromoteTo(du, hn::LoadU(du16, src + i));
    hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(wide)), df, dst + i);
  }
  for (; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

// ---- block quantizers ------------------------------------------------------------

// True when a scale can be used like the scalar reference does without
// leaving the range the vector code models: zero (every code is the middle
// one) or a normal float, whose reciprocal is finite and whose codes stay
// within a few units of the nominal range.
HWY_INLINE bool scale_in_model(float d) { return d == 0.0f || std::fabs(d) >= FLT_MIN; }

// Largest |x| of a block; *finite is false if any element is NaN or infinite.
HWY_INLINE float block_absmax(const float* x, bool* finite) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  const auto inf = hn::Set(df, HUGE_VALF);
  auto vmax = hn::Zero(df);
  auto bad = hn::Lt(vmax, vmax);  // all false
  for (size_t j = 0; j < kBlock; j += lanes) {
    const auto a = hn::Abs(hn::LoadU(df, x + j));
    bad = hn::Or(bad, hn::Not(hn::Lt(a, inf)));
    vmax = hn::Max(vmax, a);
  }
  *finite = hn::AllFalse(df, bad);
  return hn::GetLane(hn::MaxOfLanes(df, vmax));
}

// The first element whose magnitude equals amax (the scalar reference keeps
// the first of equal-magnitude extremes, and its sign decides the scale's).
HWY_INLINE float first_with_magnitude(const float* x, float amax) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  const auto target = hn::Set(df, amax);
  for (size_t j = 0; j < kBlock; j += lanes) {
    const intptr_t k = hn::FindFirstTrue(df, hn::Eq(hn::Abs(hn::LoadU(df, x + j)), target));
    if (k >= 0) return x[j + static_cast<size_t>(k)];
  }
  return 0.0f;  // amax == 0 and no element matched: cannot happen for finite data
}

// The first element equal to v (-0 == +0, so this recovers the sign of a zero
// extreme as a sequential scan would have kept it).
HWY_INLINE float first_equal(const float* x, float v) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  const auto target = hn::Set(df, v);
  for (size_t j = 0; j < kBlock; j += lanes) {
    const intptr_t k = hn::FindFirstTrue(df, hn::Eq(hn::LoadU(df, x + j), target));
    if (k >= 0) return x[j + static_cast<size_t>(k)];
  }
  return v;
}

// Writes lo | hi << 4 for codes of elements j and j + 16 (codes in 0..15).
template <class Codes>
HWY_INLINE void store_nibbles(Codes codes, uint8_t* qs) {
  const DF df;
  const DI di;
  const DU8 du8;
  const size_t lanes = hn::Lanes(df);
  for (size_t j = 0; j < kHalfBlock; j += lanes) {
    const auto lo = codes(j);
    const auto hi = codes(j + kHalfBlock);
    const auto packed =
        hn::Or(hn::And(lo, hn::Set(di, 0x0F)), hn::ShiftLeft<4>(hn::And(hi, hn::Set(di, 0x0F))));
    hn::StoreU(hn::DemoteTo(du8, packed), du8, qs + j);
  }
}

// Fifth bits of 32 codes, bit j for element j.
template <class Codes>
HWY_INLINE void store_high_bits(Codes codes, uint8_t* qh) {
  const DF df;
  const DI di;
  const size_t lanes = hn::Lanes(df);
  int32_t all[kBlock];
  for (size_t j = 0; j < kBlock; j += lanes) hn::StoreU(codes(j), di, all + j);
  uint32_t bits = 0;
  for (int j = 0; j < kBlock; ++j) bits |= static_cast<uint32_t>((all[j] >> 4) & 1) << j;
  std::memcpy(qh, &bits, sizeof bits);
}

// Symmetric formats (Q4_0: half_range 8, Q5_0: 16): code = min(top,
// trunc(x / d + half_range + 0.5)) with d = signed extreme / -half_range.
// Returns false when the block must take the scalar path.
HWY_INLINE bool symmetric_block(const float* x, float half_range, int top, uint8_t* out,
                                uint8_t* qh, uint8_t* qs) {
  const DF df;
  const DI di;
  bool finite;
  const float amax = block_absmax(x, &finite);
  if (!finite) return false;
  const float max = amax == 0.0f ? 0.0f : first_with_magnitude(x, amax);
  const float d = max / -half_range;
  if (!scale_in_model(d)) return false;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  const auto vid = hn::Set(df, id);
  const auto offset = hn::Set(df, half_range + 0.5f);
  const auto vtop = hn::Set(di, top);
  auto codes = [&](size_t j) {
    const auto scaled = hn::Add(hn::Mul(hn::LoadU(df, x + j), vid), offset);
    return hn::Min(hn::ConvertTo(di, scaled), vtop);  // ConvertTo truncates, like the C cast
  };
  store_nibbles(codes, qs);
  if (qh != nullptr) store_high_bits(codes, qh);
  return true;
}

// Affine formats (Q4_1: 15 steps, Q5_1: 31): code = trunc((x - min) / d + 0.5)
// with d = (max - min) / steps.
HWY_INLINE bool affine_block(const float* x, float steps, int top, uint8_t* out, uint8_t* qh,
                             uint8_t* qs) {
  const DF df;
  const DI di;
  const size_t lanes = hn::Lanes(df);
  const auto inf = hn::Set(df, HUGE_VALF);
  auto vmin = hn::LoadU(df, x);
  auto vmax = vmin;
  auto bad = hn::Not(hn::Lt(hn::Abs(vmin), inf));
  for (size_t j = lanes; j < kBlock; j += lanes) {
    const auto v = hn::LoadU(df, x + j);
    bad = hn::Or(bad, hn::Not(hn::Lt(hn::Abs(v), inf)));
    vmin = hn::Min(vmin, v);
    vmax = hn::Max(vmax, v);
  }
  if (!hn::AllFalse(df, bad)) return false;
  float min = hn::GetLane(hn::MinOfLanes(df, vmin));
  float max = hn::GetLane(hn::MaxOfLanes(df, vmax));
  // The reference keeps the first element equal to the extreme, and for a
  // zero extreme its sign shows in the stored m (and in d = (max - min) / n).
  if (min == 0.0f) min = first_equal(x, 0.0f);
  if (max == 0.0f) max = first_equal(x, 0.0f);
  const float range = max - min;
  if (!(range < HUGE_VALF)) return false;
  const float d = range / steps;
  if (!scale_in_model(d)) return false;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  store_half(out + 2, min);
  const auto vid = hn::Set(df, id);
  const auto vlo = hn::Set(df, min);
  const auto half = hn::Set(df, 0.5f);
  const auto vtop = hn::Set(di, top);
  auto codes = [&](size_t j) {
    const auto scaled = hn::Add(hn::Mul(hn::Sub(hn::LoadU(df, x + j), vlo), vid), half);
    return hn::Min(hn::ConvertTo(di, scaled), vtop);  // the clamp never binds here
  };
  store_nibbles(codes, qs);
  if (qh != nullptr) store_high_bits(codes, qh);
  return true;
}

void QuantizeQ4_0Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  constexpr size_t kBytes = 18;
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kBlock;
    uint8_t* out = dst + b * kBytes;
    if (!symmetric_block(x, 8.0f, 15, out, nullptr, out + 2)) {
      legacy_detail::quantize_block_q4_0_ref(x, out);
    }
  }
}

void QuantizeQ5_0Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  constexpr size_t kBytes = 22;
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kBlock;
    uint8_t* out = dst + b * kBytes;
    if (!symmetric_block(x, 16.0f, 31, out, out + 2, out + 6)) {
      legacy_detail::quantize_block_q5_0_ref(x, out);
    }
  }
}

void QuantizeQ4_1Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  constexpr size_t kBytes = 20;
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kBlock;
    uint8_t* out = dst + b * kBytes;
    if (!affine_block(x, 15.0f, 15, out, nullptr, out + 4)) {
      legacy_detail::quantize_block_q4_1_ref(x, out);
    }
  }
}

void QuantizeQ5_1Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  constexpr size_t kBytes = 24;
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kBlock;
    uint8_t* out = dst + b * kBytes;
    if (!affine_block(x, 31.0f, 31, out, out + 4, out + 8)) {
      legacy_detail::quantize_block_q5_1_ref(x, out);
    }
  }
}

// Q8_0: d = amax / 127, code = roundf(x / d) (halves away from zero).
void QuantizeQ8_0Blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  constexpr size_t kBytes = 34;
  const DF df;
  const DI di;
  const DI8 di8;
  const size_t lanes = hn::Lanes(df);
  const auto half = hn::Set(df, 0.5f);
  const auto one = hn::Set(df, 1.0f);
  for (int64_t b = 0; b < nblocks; ++b) {
    const float* x = src + b * kBlock;
    uint8_t* out = dst + b * kBytes;
    bool finite;
    const float amax = block_absmax(x, &finite);
    const float d = amax / 127.0f;
    if (!finite || !scale_in_model(d)) {
      legacy_detail::quantize_block_q8_0_ref(x, out);
      continue;
    }
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out, d);
    const auto vid = hn::Set(df, id);
    for (size_t j = 0; j < kBlock; j += lanes) {
      const auto scaled = hn::Mul(hn::LoadU(df, x + j), vid);
      // roundf: truncate, then step one away from zero when the dropped
      // fraction is at least one half (x - trunc(x) is exact).
      const auto whole = hn::Trunc(scaled);
      const auto away = hn::Ge(hn::Abs(hn::Sub(scaled, whole)), half);
      const auto rounded = hn::Add(whole, hn::IfThenElseZero(away, hn::CopySign(one, scaled)));
      const auto q = hn::DemoteTo(di8, hn::ConvertTo(di, rounded));  // |q| <= 127
      hn::StoreU(q, di8, reinterpret_cast<int8_t*>(out + 2 + j));
    }
  }
}

// ---- block dequantizers ------------------------------------------------------------

// Bit (1 << j) for lane j, to test the fifth bits of Q5 codes lane by lane.
constexpr int32_t kLaneBit[kBlock] = {
    1 << 0,  1 << 1,  1 << 2,  1 << 3,  1 << 4,  1 << 5,  1 << 6,  1 << 7,
    1 << 8,  1 << 9,  1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15,
    1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22, 1 << 23,
    1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 28, 1 << 29, 1 << 30, static_cast<int32_t>(1u << 31)};

// Dequantizes one block from nibbles (+ optional fifth bits): value =
// (code - bias) * d + m, with the add skipped when there is no m, as in ggml.
template <bool kHasMin>
HWY_INLINE void nibble_block(const uint8_t* qs, const uint8_t* qh, int bias, float d, float m,
                             float* y) {
  const DF df;
  const DI di;
  const DU8 du8;
  const size_t lanes = hn::Lanes(df);
  const auto vd = hn::Set(df, d);
  const auto vm = hn::Set(df, m);
  const auto vbias = hn::Set(di, bias);
  int32_t high = 0;
  if (qh != nullptr) std::memcpy(&high, qh, sizeof high);
  const auto vhigh = hn::Set(di, high);
  auto finish = [&](hn::Vec<DI> code, size_t j) {
    if (qh != nullptr) {
      const auto set = hn::Ne(hn::And(vhigh, hn::LoadU(di, kLaneBit + j)), hn::Zero(di));
      code = hn::Or(code, hn::IfThenElseZero(set, hn::Set(di, 0x10)));
    }
    auto v = hn::Mul(hn::ConvertTo(df, hn::Sub(code, vbias)), vd);
    if constexpr (kHasMin) v = hn::Add(v, vm);
    hn::StoreU(v, df, y + j);
  };
  for (size_t j = 0; j < kHalfBlock; j += lanes) {
    const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, qs + j));
    finish(hn::And(bytes, hn::Set(di, 0x0F)), j);
    finish(hn::ShiftRight<4>(bytes), j + kHalfBlock);
  }
}

void DequantizeQ4_0Blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = src + b * 18;
    nibble_block<false>(blk + 2, nullptr, 8, load_half(blk), 0.0f, dst + b * kBlock);
  }
}

void DequantizeQ4_1Blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = src + b * 20;
    nibble_block<true>(blk + 4, nullptr, 0, load_half(blk), load_half(blk + 2), dst + b * kBlock);
  }
}

void DequantizeQ5_0Blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = src + b * 22;
    nibble_block<false>(blk + 6, blk + 2, 16, load_half(blk), 0.0f, dst + b * kBlock);
  }
}

void DequantizeQ5_1Blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = src + b * 24;
    nibble_block<true>(blk + 8, blk + 4, 0, load_half(blk), load_half(blk + 2), dst + b * kBlock);
  }
}

void DequantizeQ8_0Blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  const DF df;
  const DI di;
  const DI8 di8;
  const size_t lanes = hn::Lanes(df);
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* blk = src + b * 34;
    const auto vd = hn::Set(df, load_half(blk));
    const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
    for (size_t j = 0; j < kBlock; j += lanes) {
      const auto q = hn::PromoteTo(di, hn::LoadU(di8, qs + j));
      hn::StoreU(hn::Mul(hn::ConvertTo(df, q), vd), df, dst + b * kBlock + j);
    }
  }
}

// ---- importance-weighted scale searches (one candidate per lane) -------------------

// nearest_int (rounding.h) lane by lane: the same 1.5 * 2^23 trick.
HWY_INLINE hn::Vec<DI> nearest_int_lanes(hn::Vec<DF> v) {
  const DF df;
  const DI di;
  const auto shifted = hn::BitCast(di, hn::Add(v, hn::Set(df, 12582912.0f)));
  return hn::Sub(hn::And(shifted, hn::Set(di, 0x007fffff)), hn::Set(di, 0x00400000));
}

// Candidate steps, padded so a 16-lane load from any start stays in bounds.
constexpr float kSymmetricSteps[32] = {-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7,
                                       8,  9,  1,  1,  1,  1,  1,  1,  1,  1, 1, 1, 1, 1, 1, 1};
constexpr float kAffineSteps[64] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
                                    26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36};

void ScoreSymmetricCandidates(const float* x, const float* w, int nmax, float max,
                              SymmetricScores* out) {
  const DF df;
  const DI di;
  const int lanes = static_cast<int>(hn::Lanes(df));
  float sumlx[32], suml2[32];
  const auto lowest = hn::Set(di, -nmax);
  const auto highest = hn::Set(di, nmax - 1);
  for (int c = 0; c < kSymmetricCandidates; c += lanes) {
    const auto step = hn::LoadU(df, kSymmetricSteps + c);
    // -(nmax + 0.1 * step) / max, as the scalar search computes it.
    const auto iscale = hn::Div(
        hn::Neg(hn::Add(hn::Set(df, static_cast<float>(nmax)), hn::Mul(hn::Set(df, 0.1f), step))),
        hn::Set(df, max));
    auto lx = hn::Zero(df);
    auto l2 = hn::Zero(df);
    for (int i = 0; i < kBlock; ++i) {
      const auto xi = hn::Set(df, x[i]);
      const auto wi = hn::Set(df, w[i]);
      const auto code = hn::Min(hn::Max(nearest_int_lanes(hn::Mul(iscale, xi)), lowest), highest);
      const auto l = hn::ConvertTo(df, code);
      lx = hn::Add(lx, hn::Mul(hn::Mul(wi, xi), l));
      l2 = hn::Add(l2, hn::Mul(hn::Mul(wi, l), l));
    }
    hn::StoreU(lx, df, sumlx + c);
    hn::StoreU(l2, df, suml2 + c);
  }
  std::memcpy(out->sumlx, sumlx, sizeof out->sumlx);
  std::memcpy(out->suml2, suml2, sizeof out->suml2);
}

void ScoreAffineCandidates(const float* x, const float* w, int nmax, float min, float max,
                           float sum_w, float sum_x, int first, AffineScores* out) {
  const DF df;
  const DI di;
  const int lanes = static_cast<int>(hn::Lanes(df));
  float det_out[64], scale_out[64], offset_out[64], err_out[64];
  const float range = max - min;
  const auto zero_i = hn::Zero(di);
  const auto top = hn::Set(di, nmax);
  const auto vsum_w = hn::Set(df, sum_w);
  const auto vsum_x = hn::Set(df, sum_x);
  for (int c = first; c < kAffineCandidates; c += lanes) {
    const auto step = hn::LoadU(df, kAffineSteps + c);
    // (-0.9 + 0.05 * step + nmax) / (max - min), as the scalar search computes it.
    const auto iscale =
        hn::Div(hn::Add(hn::Add(hn::Set(df, -0.9f), hn::Mul(hn::Set(df, 0.05f), step)),
                        hn::Set(df, static_cast<float>(nmax))),
                hn::Set(df, range));
    auto code_of = [&](float shifted_x) {
      const auto code =
          hn::Min(hn::Max(nearest_int_lanes(hn::Mul(iscale, hn::Set(df, shifted_x))), zero_i), top);
      return hn::ConvertTo(df, code);
    };
    auto sum_l = hn::Zero(df);
    auto sum_l2 = hn::Zero(df);
    auto sum_xl = hn::Zero(df);
    for (int i = 0; i < kBlock; ++i) {
      const auto l = code_of(x[i] - min);
      const auto wl = hn::Mul(hn::Set(df, w[i]), l);
      sum_l = hn::Add(sum_l, wl);
      sum_l2 = hn::Add(sum_l2, hn::Mul(wl, l));
      sum_xl = hn::Add(sum_xl, hn::Mul(wl, hn::Set(df, x[i])));
    }
    const auto det = hn::Sub(hn::Mul(vsum_w, sum_l2), hn::Mul(sum_l, sum_l));
    auto scale = hn::Div(hn::Sub(hn::Mul(vsum_w, sum_xl), hn::Mul(vsum_x, sum_l)), det);
    auto offset = hn::Div(hn::Sub(hn::Mul(sum_l2, vsum_x), hn::Mul(sum_l, sum_xl)), det);
    const auto positive = hn::Gt(offset, hn::Zero(df));
    scale = hn::IfThenElse(positive, hn::Div(sum_xl, sum_l2), scale);
    offset = hn::IfThenElseZero(hn::Not(positive), offset);
    auto err = hn::Zero(df);
    for (int i = 0; i < kBlock; ++i) {
      const auto l = code_of(x[i] - min);
      const auto diff = hn::Sub(hn::Add(hn::Mul(scale, l), offset), hn::Set(df, x[i]));
      err = hn::Add(err, hn::Mul(hn::Set(df, w[i]), hn::Mul(diff, diff)));
    }
    hn::StoreU(det, df, det_out + c);
    hn::StoreU(scale, df, scale_out + c);
    hn::StoreU(offset, df, offset_out + c);
    hn::StoreU(err, df, err_out + c);
  }
  for (int k = first; k < kAffineCandidates; ++k) {
    out->valid[k] = det_out[k] > 0.0f;
    out->scale[k] = scale_out[k];
    out->offset[k] = offset_out[k];
    out->err[k] = err_out[k];
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::legacy_simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::legacy_simd {

HWY_EXPORT(Fp32ToFp16Row);
HWY_EXPORT(Fp16ToFp32Row);
HWY_EXPORT(Fp32ToBf16Row);
HWY_EXPORT(Bf16ToFp32Row);
HWY_EXPORT(QuantizeQ4_0Blocks);
HWY_EXPORT(QuantizeQ4_1Blocks);
HWY_EXPORT(QuantizeQ5_0Blocks);
HWY_EXPORT(QuantizeQ5_1Blocks);
HWY_EXPORT(QuantizeQ8_0Blocks);
HWY_EXPORT(DequantizeQ4_0Blocks);
HWY_EXPORT(DequantizeQ4_1Blocks);
HWY_EXPORT(DequantizeQ5_0Blocks);
HWY_EXPORT(DequantizeQ5_1Blocks);
HWY_EXPORT(DequantizeQ8_0Blocks);
HWY_EXPORT(ScoreSymmetricCandidates);
HWY_EXPORT(ScoreAffineCandidates);
HWY_EXPORT(TargetName);

void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Fp32ToFp16Row)(src, dst, n);
}
void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Fp16ToFp32Row)(src, dst, n);
}
void fp32_to_bf16_row(const float* src, uint16_t* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Fp32ToBf16Row)(src, dst, n);
}
void bf16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Bf16ToFp32Row)(src, dst, n);
}
void quantize_q4_0_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ4_0Blocks)(src, dst, nblocks);
}
void quantize_q4_1_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ4_1Blocks)(src, dst, nblocks);
}
void quantize_q5_0_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ5_0Blocks)(src, dst, nblocks);
}
void quantize_q5_1_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ5_1Blocks)(src, dst, nblocks);
}
void quantize_q8_0_blocks(const float* src, uint8_t* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ8_0Blocks)(src, dst, nblocks);
}
void dequantize_q4_0_blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ4_0Blocks)(src, dst, nblocks);
}
void dequantize_q4_1_blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ4_1Blocks)(src, dst, nblocks);
}
void dequantize_q5_0_blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ5_0Blocks)(src, dst, nblocks);
}
void dequantize_q5_1_blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ5_1Blocks)(src, dst, nblocks);
}
void dequantize_q8_0_blocks(const uint8_t* src, float* dst, int64_t nblocks) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ8_0Blocks)(src, dst, nblocks);
}
void score_symmetric_candidates(const float* x, const float* w, int nmax, float max,
                                SymmetricScores* out) {
  HWY_DYNAMIC_DISPATCH(ScoreSymmetricCandidates)(x, w, nmax, max, out);
}
void score_affine_candidates(const float* x, const float* w, int nmax, float min, float max,
                             float sum_w, float sum_x, int first, AffineScores* out) {
  HWY_DYNAMIC_DISPATCH(ScoreAffineCandidates)(x, w, nmax, min, max, sum_w, sum_x, first, out);
}
const char* target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace apex::quant::legacy_simd
#endif  // HWY_ONCE
