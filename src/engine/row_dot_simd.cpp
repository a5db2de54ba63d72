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
#include <cstring>

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

#if HWY_TARGET == HWY_AVX3_DL
// AVX-512 with VBMI and VNNI (Ice Lake, Zen 4): whole 64-value chunks per
// instruction. A byte permutation (vpermb) puts, in every 32-value span,
// the four values of one ggml lane (positions l, l + 8, l + 16, l + 24) in
// four consecutive bytes; unsigned weights times signed activations summed
// in pairs (vpmaddubsw), then pairs of those times their int16 sub-block
// scales (vpdpwssd), give each 32-bit lane the sum of one lane's values of
// one span. The two spans of a vector fold into the same eight lanes at the
// end of a block, so the integer lane sums, and the float part after them,
// are exactly those of the portable kernels.

// vpermb indices: byte 4j + i of each 32-byte span takes position j + 8i.
alignas(64) constexpr uint8_t kLaneQuads[64] = {
    0,  8,  16, 24, 1,  9,  17, 25, 2,  10, 18, 26, 3,  11, 19, 27,
    4,  12, 20, 28, 5,  13, 21, 29, 6,  14, 22, 30, 7,  15, 23, 31,
    32, 40, 48, 56, 33, 41, 49, 57, 34, 42, 50, 58, 35, 43, 51, 59,
    36, 44, 52, 60, 37, 45, 53, 61, 38, 46, 54, 62, 39, 47, 55, 63};

// Sum of the two 256-bit halves: the eight lane sums of a block.
HWY_INLINE __m256i FoldHalves(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// The eight 6-bit scales and eight 6-bit mins of a Q4_K block as bytes,
// from its 12 packed bytes (the layout of q4k_scale_min, four at a time):
// scales 0-3 and mins 0-3 are the low six bits of bytes 0-3 and 4-7; scales
// and mins 4-7 take their low four bits from the nibbles of bytes 8-11 and
// their top two from the top bits of bytes 0-3 and 4-7.
HWY_INLINE void Q4KScalesMins(const uint8_t* packed, uint64_t& scales, uint64_t& mins) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  constexpr uint32_t kLow6 = 0x3F3F3F3F, kLow4 = 0x0F0F0F0F, kLow2 = 0x03030303;
  const uint32_t sc_hi = (u[2] & kLow4) | (((u[0] >> 6) & kLow2) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & kLow4) | (((u[1] >> 6) & kLow2) << 4);
  scales = (u[0] & kLow6) | (uint64_t{sc_hi} << 32);
  mins = (u[1] & kLow6) | (uint64_t{mn_hi} << 32);
}

// vpermw indices of the Q4_K scales for chunk c (sub-blocks 2c, 2c + 1).
struct Q4Scales {
  alignas(64) int16_t idx[4][32];
  constexpr Q4Scales() : idx{} {
    for (int c = 0; c < 4; ++c) {
      for (int w = 0; w < 32; ++w) idx[c][w] = static_cast<int16_t>(2 * c + w / 16);
    }
  }
};
constexpr Q4Scales kQ4Scales;

// Sum of the eight int32 lanes.
HWY_INLINE int HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

float RowDotQ4K_VBMI(const Q4_K* x, const Q8_K* y, int64_t n_blocks) {
  const __m512i quads = _mm512_load_si512(kLaneQuads);
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m256 sums = _mm256_setzero_ps();
  float sum = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint64_t sc8, mn8;
    Q4KScalesMins(x[b].scales, sc8, mn8);
    const __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc8))));
    // min_sum = sum over sub-blocks j of min_j * (bsums[2j] + bsums[2j + 1]).
    const __m128i mn = _mm_cvtsi64_si128(static_cast<long long>(mn8));
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn));
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].bsums));
    const int min_sum = HorizontalSum(_mm256_madd_epi16(mins16, bsums));
    __m512i acc = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      // Sub-block 2c: low nibbles of bytes 32c..32c+31; 2c+1: high nibbles.
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * c));
      __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
      w = _mm512_permutexvar_epi8(quads, _mm512_and_si512(w, nibble));
      const __m512i a = _mm512_permutexvar_epi8(quads, _mm512_loadu_si512(y[b].qs + 64 * c));
      const __m512i s = _mm512_permutexvar_epi16(_mm512_load_si512(kQ4Scales.idx[c]), sc);
      acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(w, a), s);
    }
    const float d = h2f(x[b].d) * y[b].d;
    sums = _mm256_add_ps(sums, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(FoldHalves(acc))));
    const float dmin = h2f(x[b].dmin) * y[b].d;
    sum -= dmin * static_cast<float>(min_sum);
  }
  HWY_ALIGN float s8[8];
  _mm256_store_ps(s8, sums);
  for (int l = 0; l < 8; ++l) sum += s8[l];
  return sum;
}

// Q8_0 x Q8_0, eight blocks at a time: each block's 32 products summed by
// one vpdpbusd (|w| unsigned times the activation with w's sign; Q8_0
// activations never hold -128, whose negation would wrap), the eight
// blocks' lane sums reduced together, then the float part block by block
// in order, as the portable kernel.
float RowDotQ8_0_VNNI(const Q8_0* x, const Q8_0* y, int64_t n_blocks) {
  float sum = 0.0f;
  int64_t b = 0;
  for (; b + 8 <= n_blocks; b += 8) {
    __m256i v[8];
    for (int i = 0; i < 8; ++i) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b + i].qs));
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b + i].qs));
      v[i] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
    }
    // Pairwise adds: lane k of each 128-bit half ends up holding block k's
    // (low half) and block k + 4's ... sums of that half's four lanes.
    const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
    const __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
    const __m128i dx = _mm_setr_epi16(x[b].d, x[b + 1].d, x[b + 2].d, x[b + 3].d, x[b + 4].d, x[b + 5].d,
                                      x[b + 6].d, x[b + 7].d);
    const __m128i dy = _mm_setr_epi16(y[b].d, y[b + 1].d, y[b + 2].d, y[b + 3].d, y[b + 4].d, y[b + 5].d,
                                      y[b + 6].d, y[b + 7].d);
    const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(dx), _mm256_cvtph_ps(dy));
    HWY_ALIGN float t[8];
    _mm256_store_ps(t, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), scale));
    for (int i = 0; i < 8; ++i) sum += t[i];
  }
  for (; b < n_blocks; ++b) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs));
    const int isum = HorizontalSum(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(a, w)));
    sum += static_cast<float>(isum) * (h2f(x[b].d) * h2f(y[b].d));
  }
  return sum;
}

// vpermw indices of the Q6_K scales for chunk k (0..3, 64 values each) of
// a block: 32-bit lane m of span h' sums one pair from sub-block 4k + 2h'
// (positions l, l + 8) and one from 4k + 2h' + 1 (l + 16, l + 24).
struct Q6Scales {
  alignas(64) int16_t idx[4][32];
  constexpr Q6Scales() : idx{} {
    for (int k = 0; k < 4; ++k) {
      for (int w = 0; w < 32; ++w) idx[k][w] = static_cast<int16_t>(4 * k + 2 * (w / 16) + w % 2);
    }
  }
};
constexpr Q6Scales kQ6Scales;

float RowDotQ6K_VBMI(const Q6_K* x, const Q8_K* y, int64_t n_blocks) {
  const __m512i quads = _mm512_load_si512(kLaneQuads);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3), k32 = _mm512_set1_epi8(32);
  // qh shifts per span: values 0..31 of a chunk take bits 0-1 (chunk 0) or
  // 4-5 (chunk 1), values 32..63 bits 2-3 or 6-7.
  const __m512i shift01 = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
  const __m512i shift23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
  __m256 sums = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const __m512i sc = _mm512_castsi256_si512(
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales))));
    __m512i acc = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(x[b].ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh + 32 * h)));
      for (int chunk = 0; chunk < 2; ++chunk) {
        const __m512i lo = chunk == 0 ? _mm512_and_si512(ql, m4) : _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4);
        const __m512i hi = _mm512_and_si512(_mm512_srlv_epi16(qh, chunk == 0 ? shift01 : shift23), m2);
        const __m512i u = _mm512_permutexvar_epi8(quads, _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4)));
        const __m512i a = _mm512_permutexvar_epi8(quads, _mm512_loadu_si512(y[b].qs + 128 * h + 64 * chunk));
        // (u - 32) * a in pairs: u is unsigned for vpmaddubsw, the offset
        // comes off in int16 (|sum| <= 2 * 32 * 128 fits).
        const __m512i p = _mm512_sub_epi16(_mm512_maddubs_epi16(u, a), _mm512_maddubs_epi16(k32, a));
        const __m512i s = _mm512_permutexvar_epi16(_mm512_load_si512(kQ6Scales.idx[2 * h + chunk]), sc);
        acc = _mm512_dpwssd_epi32(acc, p, s);
      }
    }
    const float d = h2f(x[b].d) * y[b].d;
    sums = _mm256_add_ps(sums, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(FoldHalves(acc))));
  }
  HWY_ALIGN float s8[8];
  _mm256_store_ps(s8, sums);
  float sum = 0.0f;
  for (int l = 0; l < 8; ++l) sum += s8[l];
  return sum;
}
#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

float RowDotQ8_0(const uint8_t* w, const uint8_t* a, int64_t n) {
#if HWY_TARGET == HWY_AVX3_DL
  return RowDotQ8_0_VNNI(reinterpret_cast<const Q8_0*>(w), reinterpret_cast<const Q8_0*>(a), n / 32);
#endif
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
#if HWY_TARGET == HWY_AVX3_DL
  return RowDotQ4K_VBMI(reinterpret_cast<const Q4_K*>(w), reinterpret_cast<const Q8_K*>(a), n / kQK);
#endif
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
#if HWY_TARGET == HWY_AVX3_DL
  return RowDotQ6K_VBMI(reinterpret_cast<const Q6_K*>(w), reinterpret_cast<const Q8_K*>(a), n / kQK);
#endif
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
