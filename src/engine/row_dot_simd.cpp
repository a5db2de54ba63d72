// SIMD versions of the per-row block dot products of quant_dot.h for the
// types that dominate generation (one activation row): Q8_0 x Q8_0,
// Q4_K x Q8_K, Q6_K x Q8_K. Compiled per Highway target, picked at run time.
//
// The integer parts (products of the quants, sums within a block) are exact,
// so they are computed in any order: 16-bit products summed within a
// sub-block, then 16-bit pairwise multiply-adds with (scale, 0) and (0, scale)
// pairs give exact 32-bit sums of the even and odd positions, folded into
// ggml's eight lane sums (position mod 8). The float part (d * lane sums,
// accumulation across blocks) is quant_dot.cpp's, operation by operation, so
// the results are bit-identical to the scalar kernels.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/row_dot_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstdint>

#include "engine/kernels_simd.h"
#include "engine/quant_dot.h"
#include "quant/fp16.h"

HWY_BEFORE_NAMESPACE();
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

using D16 = hn::CappedTag<int16_t, 16>;
using D32 = hn::Repartition<int32_t, D16>;
using V16 = hn::Vec<D16>;
using V32 = hn::Vec<D32>;

// (s, 0) and (0, s) pairs of int16 lanes.
HWY_INLINE V16 EvenScale(int s) {
  const D16 d16;
  const D32 d32;
  return hn::BitCast(d16, hn::Set(d32, static_cast<int32_t>(static_cast<uint16_t>(s))));
}
HWY_INLINE V16 OddScale(int s) {
  const D16 d16;
  const D32 d32;
  return hn::BitCast(
      d16, hn::Set(d32, static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(s)) << 16)));
}

// acc += pairwise products (x86: exactly pmaddwd).
HWY_INLINE V32 Madd(V16 a, V16 b, V32 acc) {
  const D32 d32;
  V32 unused = hn::Zero(d32);
  return hn::ReorderWidenMulAccumulate(d32, a, b, acc, unused);
}

// Eight lane sums from the even / odd position accumulators of one block.
HWY_INLINE void FoldLanes(V32 even, V32 odd, int32_t* lanes) {
  const D32 d32;
  const size_t n32 = hn::Lanes(d32);
  HWY_ALIGN int32_t e[hn::MaxLanes(D32())];
  HWY_ALIGN int32_t o[hn::MaxLanes(D32())];
  hn::Store(even, d32, e);
  hn::Store(odd, d32, o);
  for (int l = 0; l < 8; ++l) lanes[l] = 0;
  for (size_t k = 0; k < n32; ++k) {
    lanes[(2 * k) % 8] += e[k];
    lanes[(2 * k + 1) % 8] += o[k];
  }
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
      auto acc = hn::Zero(d32), unused = hn::Zero(d32);
      for (size_t j = 0; j < 32; j += N16) {
        const auto xv = hn::PromoteTo(d16, hn::LoadU(d8, x[b].qs + j));
        const auto yv = hn::PromoteTo(d16, hn::LoadU(d8, y[b].qs + j));
        acc = hn::ReorderWidenMulAccumulate(d32, xv, yv, acc, unused);
      }
      const int sumi = hn::GetLane(hn::SumOfLanes(d32, acc));
      sum += static_cast<float>(sumi) * (h2f(x[b].d) * h2f(y[b].d));
    }
    return sum;
  }
}

float RowDotQ4K(const uint8_t* w, const uint8_t* a, int64_t n) {
  if constexpr (!kSimd) {
    return dot_q4_k_q8_k(w, a, n);
  } else {
    const D16 d16;
    const D32 d32;
    const hn::Rebind<int8_t, D16> d8;
    const hn::Rebind<uint8_t, D16> du8;
    const size_t N16 = hn::Lanes(d16);
    const auto* x = reinterpret_cast<const Q4_K*>(w);
    const auto* y = reinterpret_cast<const Q8_K*>(a);
    const V16 mask = hn::Set(d16, 0xF);
    float sums[8] = {};
    float sum = 0.0f;
    for (int64_t b = 0; b < n / kQK; ++b) {
      int min_sum = 0;
      V32 even = hn::Zero(d32), odd = hn::Zero(d32);
      for (int c = 0; c < 4; ++c) {
        int sc_lo, m_lo, sc_hi, m_hi;
        q4k_scale_min(x[b].scales, 2 * c, sc_lo, m_lo);
        q4k_scale_min(x[b].scales, 2 * c + 1, sc_hi, m_hi);
        min_sum += (y[b].bsums[4 * c] + y[b].bsums[4 * c + 1]) * m_lo;
        min_sum += (y[b].bsums[4 * c + 2] + y[b].bsums[4 * c + 3]) * m_hi;
        const uint8_t* q = x[b].qs + 32 * c;
        const int8_t* q8 = y[b].qs + 64 * c;
        V16 p_lo = hn::Zero(d16), p_hi = hn::Zero(d16);
        for (size_t j = 0; j < 32; j += N16) {
          const V16 v = hn::PromoteTo(d16, hn::LoadU(du8, q + j));
          const V16 a0 = hn::PromoteTo(d16, hn::LoadU(d8, q8 + j));
          const V16 a1 = hn::PromoteTo(d16, hn::LoadU(d8, q8 + 32 + j));
          p_lo = hn::Add(p_lo, hn::Mul(hn::And(v, mask), a0));
          p_hi = hn::Add(p_hi, hn::Mul(hn::ShiftRight<4>(v), a1));
        }
        even = Madd(p_lo, EvenScale(sc_lo), even);
        even = Madd(p_hi, EvenScale(sc_hi), even);
        odd = Madd(p_lo, OddScale(sc_lo), odd);
        odd = Madd(p_hi, OddScale(sc_hi), odd);
      }
      int32_t lanes[8];
      FoldLanes(even, odd, lanes);
      const float d = h2f(x[b].d) * y[b].d;
      for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(lanes[l]);
      const float dmin = h2f(x[b].dmin) * y[b].d;
      sum -= dmin * static_cast<float>(min_sum);
    }
    for (int l = 0; l < 8; ++l) sum += sums[l];
    return sum;
  }
}

float RowDotQ6K(const uint8_t* w, const uint8_t* a, int64_t n) {
  if constexpr (!kSimd) {
    return dot_q6_k_q8_k(w, a, n);
  } else {
    const D16 d16;
    const D32 d32;
    const hn::Rebind<int8_t, D16> d8;
    const hn::Rebind<uint8_t, D16> du8;
    const size_t N16 = hn::Lanes(d16);
    const auto* x = reinterpret_cast<const Q6_K*>(w);
    const auto* y = reinterpret_cast<const Q8_K*>(a);
    const V16 m4 = hn::Set(d16, 0xF), m2 = hn::Set(d16, 3), k32 = hn::Set(d16, 32);
    float sums[8] = {};
    for (int64_t b = 0; b < n / kQK; ++b) {
      V32 even = hn::Zero(d32), odd = hn::Zero(d32);
      const int8_t* sc = x[b].scales;
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = x[b].ql + 64 * h;
        const uint8_t* qh = x[b].qh + 32 * h;
        const int8_t* q8 = y[b].qs + 128 * h;
        for (size_t j = 0; j < 32; j += N16) {
          const V16 l0 = hn::PromoteTo(d16, hn::LoadU(du8, ql + j));
          const V16 l1 = hn::PromoteTo(d16, hn::LoadU(du8, ql + 32 + j));
          const V16 hb = hn::PromoteTo(d16, hn::LoadU(du8, qh + j));
          const V16 v0 = hn::Sub(hn::Or(hn::And(l0, m4), hn::ShiftLeft<4>(hn::And(hb, m2))), k32);
          const V16 v1 = hn::Sub(
              hn::Or(hn::And(l1, m4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(hb), m2))), k32);
          const V16 v2 = hn::Sub(
              hn::Or(hn::ShiftRight<4>(l0), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(hb), m2))), k32);
          const V16 v3 =
              hn::Sub(hn::Or(hn::ShiftRight<4>(l1), hn::ShiftLeft<4>(hn::ShiftRight<6>(hb))), k32);
          const V16 vs[4] = {v0, v1, v2, v3};
          for (int m = 0; m < 4; ++m) {
            const size_t pos = 32 * m + j;  // within this half
            const V16 p = hn::Mul(vs[m], hn::PromoteTo(d16, hn::LoadU(d8, q8 + pos)));
            const int s = sc[8 * h + pos / 16];
            even = Madd(p, EvenScale(s), even);
            odd = Madd(p, OddScale(s), odd);
          }
        }
      }
      int32_t lanes[8];
      FoldLanes(even, odd, lanes);
      const float d = h2f(x[b].d) * y[b].d;
      for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(lanes[l]);
    }
    float sum = 0.0f;
    for (int l = 0; l < 8; ++l) sum += sums[l];
    return sum;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::engine::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::engine::simd {

HWY_EXPORT(RowDotQ8_0);
HWY_EXPORT(RowDotQ4K);
HWY_EXPORT(RowDotQ6K);

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
