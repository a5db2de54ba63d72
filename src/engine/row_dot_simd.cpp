// SIMD versions of the per-row block dot products of quant_dot.h for the
// types that dominate generation (one activation row): Q8_0 x Q8_0,
// Q4_K x Q8_K, Q6_K x Q8_K. Compiled per Highway target, picked at run time.
//
// The integer parts (products of the quants, sums within a block) are exact,
// so they are computed in any order: the bytes of each 16 values are
// shuffled so that values l and l + 8 (both in ggml's lane l = position mod
// 8) sit side by side, weights times their sub-block scale in int16, and one
// pairwise multiply-add with the activations puts lane l's sum in 32-bit
// lane l (mod 8) directly. The float part (d * lane sums, accumulation
// across blocks) is quant_dot.cpp's, operation by operation, on eight float
// lanes at once, so the results are bit-identical to the scalar kernels.
// Also compile the AVX-512 VNNI target (simd_pairs-inl.h).
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/row_dot_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include "engine/simd_pairs-inl.h"

#include <cstdint>

#include "engine/kernels_simd.h"
#include "engine/quant_dot.h"
#include "quant/fp16.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
// As in simd_pairs-inl.h.
#pragma GCC target("avx512vnni")
#endif
namespace apex::engine::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace {

constexpr int kQK = 256;
struct Q8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct Q8_K {
  float d;
  int8_t qs[kQK];
  int16_t bsums[kQK / 16];
};
struct Q4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[kQK / 2];
};
struct Q6_K {
  uint8_t ql[kQK / 2];
  uint8_t qh[kQK / 4];
  int8_t scales[kQK / 16];
  uint16_t d;
};
static_assert(sizeof(Q8_0) == 34 && sizeof(Q8_K) == 292 && sizeof(Q4_K) == 144 &&
              sizeof(Q6_K) == 210);

inline float h2f(uint16_t h) { return quant::fp16_to_fp32(h); }

// The SIMD path relies on x86's 16-bit multiply-add (lane k = pairs 2k, 2k+1)
// and on at least 8 int16 lanes (so every chunk starts at a multiple of 8).
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
constexpr bool kSimd = true;
#else
constexpr bool kSimd = false;
#endif

using D16x32 = hn::CappedTag<int16_t, 32>;
using D16x16 = hn::CappedTag<int16_t, 16>;
using D32x8 = hn::CappedTag<int32_t, 8>;

// Byte shuffle (within each 16 bytes) that puts values l and l + 8 side by
// side: ggml's lane l (position mod 8) then owns int16 pair l.
alignas(64) constexpr uint8_t kPairLanes[64] = {
    0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
    0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
    0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
    0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15};

// Signed activation bytes, lanes paired, widened to int16.
template <class D16, class D8, class VIdx>
HWY_INLINE hn::Vec<D16> PromotePaired(D16 d16, D8 d8, const int8_t* p, VIdx idx) {
  const hn::Rebind<uint8_t, D8> du8;
  const auto bytes = hn::TableLookupBytes(hn::BitCast(du8, hn::LoadU(d8, p)), idx);
  return hn::PromoteTo(d16, hn::BitCast(d8, bytes));
}

// The eight ggml lane sums of a block: int32 lane k holds lane k mod 8.
template <class D32>
HWY_INLINE hn::Vec<D32x8> FoldTo8(D32 d32, hn::Vec<D32> acc) {
  (void)d32;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (hn::MaxLanes(D32()) > 8) {
    const hn::Half<D32> dh;
    return hn::Add(hn::LowerHalf(dh, acc), hn::UpperHalf(dh, acc));
  } else {
    return acc;
  }
#else
  return acc;
#endif
}

// Q4_K scale and min of sub-block j (as quant_dot.cpp).
inline void q4k_scale_min(const uint8_t* s, int j, int& scale, int& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

}  // namespace

float RowDotQ8_0(const uint8_t* w, const uint8_t* a, int64_t n) {
  if constexpr (!kSimd) {
    return dot_q8_0_q8_0(w, a, n);
  } else {
    const hn::CappedTag<int16_t, 32> d16;
    const hn::Repartition<int32_t, decltype(d16)> d32;
    const hn::Rebind<int8_t, decltype(d16)> d8;
    const size_t N16 = hn::Lanes(d16);
    const auto* x = reinterpret_cast<const Q8_0*>(w);
    const auto* y = reinterpret_cast<const Q8_0*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
      auto acc = hn::Zero(d32);
      for (size_t j = 0; j < 32; j += N16) {
        const auto xv = hn::PromoteTo(d16, hn::LoadU(d8, x[b].qs + j));
        const auto yv = hn::PromoteTo(d16, hn::LoadU(d8, y[b].qs + j));
        acc = MulAddPairs(d32, xv, yv, acc);
      }
      const int sumi = hn::GetLane(hn::SumOfLanes(d32, acc));
      sum += static_cast<float>(sumi) * (h2f(x[b].d) * h2f(y[b].d));
    }
    return sum;
  }
}

float RowDotQ4K(const uint8_t* w, const uint8_t* a, int64_t n) {
  if constexpr (!kSimd || hn::MaxLanes(D16x32()) < 16) {
    return dot_q4_k_q8_k(w, a, n);
  } else {
    // One vector of int16 covers at most one 32-value sub-block (one scale):
    // 32 lanes on AVX-512, 16 on AVX2 (two passes per sub-block).
    const D16x32 d16;
    const hn::Repartition<int32_t, D16x32> d32;
    const hn::Rebind<uint8_t, D16x32> du8;
    const hn::Rebind<int8_t, D16x32> d8;
    const size_t N16 = hn::Lanes(d16);
    const auto* x = reinterpret_cast<const Q4_K*>(w);
    const auto* y = reinterpret_cast<const Q8_K*>(a);
    const auto pair_idx = hn::LoadU(du8, kPairLanes);
    const auto nibble = hn::Set(du8, 0xF);
    const hn::Rebind<float, D32x8> df8;
    auto sums = hn::Zero(df8);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / kQK; ++b) {
      int min_sum = 0;
      auto acc = hn::Zero(d32);
      for (int c = 0; c < 4; ++c) {
        int sc_lo, m_lo, sc_hi, m_hi;
        q4k_scale_min(x[b].scales, 2 * c, sc_lo, m_lo);
        q4k_scale_min(x[b].scales, 2 * c + 1, sc_hi, m_hi);
        min_sum += (y[b].bsums[4 * c] + y[b].bsums[4 * c + 1]) * m_lo;
        min_sum += (y[b].bsums[4 * c + 2] + y[b].bsums[4 * c + 3]) * m_hi;
        const auto s_lo = hn::Set(d16, static_cast<int16_t>(sc_lo));
        const auto s_hi = hn::Set(d16, static_cast<int16_t>(sc_hi));
        const uint8_t* q = x[b].qs + 32 * c;
        const int8_t* q8 = y[b].qs + 64 * c;
        for (size_t j = 0; j < 32; j += N16) {
          // Values l and l + 8 of each 16 side by side, in the weights and
          // the activations alike, so that a pairwise multiply-add sums two
          // values of one ggml lane (position mod 8) into 32-bit lane l.
          const auto v = hn::TableLookupBytes(hn::LoadU(du8, q + j), pair_idx);
          const auto w_lo = hn::Mul(hn::PromoteTo(d16, hn::And(v, nibble)), s_lo);
          const auto w_hi = hn::Mul(hn::PromoteTo(d16, hn::ShiftRight<4>(v)), s_hi);
          const auto a_lo = PromotePaired(d16, d8, q8 + j, pair_idx);
          const auto a_hi = PromotePaired(d16, d8, q8 + 32 + j, pair_idx);
          acc = MulAddPairs(d32, w_lo, a_lo, acc);
          acc = MulAddPairs(d32, w_hi, a_hi, acc);
        }
      }
      const auto lanes = FoldTo8(d32, acc);
      const float d = h2f(x[b].d) * y[b].d;
      sums = hn::Add(sums, hn::Mul(hn::Set(df8, d), hn::ConvertTo(df8, lanes)));
      const float dmin = h2f(x[b].dmin) * y[b].d;
      sum -= dmin * static_cast<float>(min_sum);
    }
    HWY_ALIGN float s8[8];
    hn::Store(sums, df8, s8);
    for (int l = 0; l < 8; ++l) sum += s8[l];
    return sum;
  }
}

float RowDotQ6K(const uint8_t* w, const uint8_t* a, int64_t n) {
  if constexpr (!kSimd || hn::MaxLanes(D16x16()) < 16) {
    return dot_q6_k_q8_k(w, a, n);
  } else {
    // One vector of int16 is one 16-value sub-block (one scale).
    const D16x16 d16;
    const hn::Repartition<int32_t, D16x16> d32;
    const hn::Rebind<uint8_t, D16x16> du8;
    const hn::Rebind<int8_t, D16x16> d8;
    const auto* x = reinterpret_cast<const Q6_K*>(w);
    const auto* y = reinterpret_cast<const Q8_K*>(a);
    const auto pair_idx = hn::LoadU(du8, kPairLanes);
    const auto m4 = hn::Set(du8, 0xF), m2 = hn::Set(du8, 3);
    const auto k32 = hn::Set(d16, 32);
    const hn::Rebind<float, D32x8> df8;
    auto sums = hn::Zero(df8);
    for (int64_t b = 0; b < n / kQK; ++b) {
      auto acc = hn::Zero(d32);
      const int8_t* sc = x[b].scales;
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = x[b].ql + 64 * h;
        const uint8_t* qh = x[b].qh + 32 * h;
        const int8_t* q8 = y[b].qs + 128 * h;
        for (int j = 0; j < 32; j += 16) {
          // Byte j of ql / ql + 32 / qh holds values 32m + j (m = 0..3) of
          // this half; pair lanes as in RowDotQ4K.
          const auto l0 = hn::TableLookupBytes(hn::LoadU(du8, ql + j), pair_idx);
          const auto l1 = hn::TableLookupBytes(hn::LoadU(du8, ql + 32 + j), pair_idx);
          const auto hb = hn::TableLookupBytes(hn::LoadU(du8, qh + j), pair_idx);
          const decltype(l0) u[4] = {
              hn::Or(hn::And(l0, m4), hn::ShiftLeft<4>(hn::And(hb, m2))),
              hn::Or(hn::And(l1, m4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(hb), m2))),
              hn::Or(hn::ShiftRight<4>(l0), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(hb), m2))),
              hn::Or(hn::ShiftRight<4>(l1), hn::ShiftLeft<4>(hn::ShiftRight<6>(hb)))};
          for (int m = 0; m < 4; ++m) {
            const int pos = 32 * m + j;  // within this half
            const auto s = hn::Set(d16, static_cast<int16_t>(sc[8 * h + pos / 16]));
            const auto v = hn::Mul(hn::Sub(hn::PromoteTo(d16, u[m]), k32), s);
            const auto av = PromotePaired(d16, d8, q8 + pos, pair_idx);
            acc = MulAddPairs(d32, v, av, acc);
          }
        }
      }
      const float d = h2f(x[b].d) * y[b].d;
      sums = hn::Add(sums, hn::Mul(hn::Set(df8, d), hn::ConvertTo(df8, FoldTo8(d32, acc))));
    }
    HWY_ALIGN float s8[8];
    hn::Store(sums, df8, s8);
    float sum = 0.0f;
    for (int l = 0; l < 8; ++l) sum += s8[l];
    return sum;
  }
}

// Panel decoding (packed_rows.h): one weight row to int16 values times
// their sub-block scale, in the panels' pair order (values l and l + 8 of
// each 16 side by side) — the same byte shuffle as the row kernels.
bool DecodePairedQ4K(const uint8_t* w, int64_t n, int16_t* out) {
  // The 16-value shuffle needs 16 int16 lanes (AVX2 and up).
  if constexpr (!kSimd || hn::MaxLanes(D16x32()) < 16) return false;
  // Up to one 32-value sub-block (one scale) per vector.
  const D16x32 d16;
  const hn::Rebind<uint8_t, D16x32> du8;
  const size_t N16 = hn::Lanes(d16);
  const auto pair_idx = hn::LoadU(du8, kPairLanes);
  const auto nibble = hn::Set(du8, 0xF);
  const auto* x = reinterpret_cast<const Q4_K*>(w);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int16_t* o = out + b * kQK;
    for (int c = 0; c < 4; ++c) {
      int sc_lo, sc_hi, unused_min;
      q4k_scale_min(x[b].scales, 2 * c, sc_lo, unused_min);
      q4k_scale_min(x[b].scales, 2 * c + 1, sc_hi, unused_min);
      const auto s_lo = hn::Set(d16, static_cast<int16_t>(sc_lo));
      const auto s_hi = hn::Set(d16, static_cast<int16_t>(sc_hi));
      for (size_t j = 0; j < 32; j += N16) {
        const auto v = hn::TableLookupBytes(hn::LoadU(du8, x[b].qs + 32 * c + j), pair_idx);
        hn::StoreU(hn::Mul(hn::PromoteTo(d16, hn::And(v, nibble)), s_lo), d16, o + 64 * c + j);
        hn::StoreU(hn::Mul(hn::PromoteTo(d16, hn::ShiftRight<4>(v)), s_hi), d16, o + 64 * c + 32 + j);
      }
    }
  }
  return true;
}

bool DecodePairedQ6K(const uint8_t* w, int64_t n, int16_t* out) {
  // The 16-value shuffle needs 16 int16 lanes (AVX2 and up).
  if constexpr (!kSimd || hn::MaxLanes(D16x16()) < 16) return false;
  const D16x16 d16;
  const hn::Rebind<uint8_t, D16x16> du8;
  const auto pair_idx = hn::LoadU(du8, kPairLanes);
  const auto m4 = hn::Set(du8, 0xF), m2 = hn::Set(du8, 3);
  const auto k32 = hn::Set(d16, 32);
  const auto* x = reinterpret_cast<const Q6_K*>(w);
  for (int64_t b = 0; b < n / kQK; ++b) {
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      int16_t* o = out + b * kQK + 128 * h;
      for (int j = 0; j < 32; j += 16) {
        const auto l0 = hn::TableLookupBytes(hn::LoadU(du8, ql + j), pair_idx);
        const auto l1 = hn::TableLookupBytes(hn::LoadU(du8, ql + 32 + j), pair_idx);
        const auto hb = hn::TableLookupBytes(hn::LoadU(du8, qh + j), pair_idx);
        const decltype(l0) u[4] = {
            hn::Or(hn::And(l0, m4), hn::ShiftLeft<4>(hn::And(hb, m2))),
            hn::Or(hn::And(l1, m4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(hb), m2))),
            hn::Or(hn::ShiftRight<4>(l0), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(hb), m2))),
            hn::Or(hn::ShiftRight<4>(l1), hn::ShiftLeft<4>(hn::ShiftRight<6>(hb)))};
        for (int m = 0; m < 4; ++m) {
          const int pos = 32 * m + j;
          const auto s = hn::Set(d16, static_cast<int16_t>(x[b].scales[8 * h + pos / 16]));
          hn::StoreU(hn::Mul(hn::Sub(hn::PromoteTo(d16, u[m]), k32), s), d16, o + pos);
        }
      }
    }
  }
  return true;
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::engine::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::engine::simd {

HWY_EXPORT(RowDotQ8_0);
HWY_EXPORT(RowDotQ4K);
HWY_EXPORT(RowDotQ6K);
HWY_EXPORT(DecodePairedQ4K);
HWY_EXPORT(DecodePairedQ6K);

bool decode_paired_row(quant::TypeId type, const uint8_t* w, int64_t n, int16_t* out) {
  switch (type) {
    case quant::TypeId::Q4_K: return HWY_DYNAMIC_DISPATCH(DecodePairedQ4K)(w, n, out);
    case quant::TypeId::Q6_K: return HWY_DYNAMIC_DISPATCH(DecodePairedQ6K)(w, n, out);
    default: return false;
  }
}

float row_dot_q8_0(const uint8_t* w, const uint8_t* a, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(RowDotQ8_0)(w, a, n);
}
float row_dot_q4_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(RowDotQ4K)(w, a, n);
}
float row_dot_q6_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(RowDotQ6K)(w, a, n);
}

}  // namespace apex::engine::simd
#endif  // HWY_ONCE
