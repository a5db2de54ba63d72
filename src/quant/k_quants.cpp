// K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, byte-identical to llama.cpp.
//
// Every type works on super-blocks of 256 values. A super-block holds small
// integer codes, a quantized scale (and for Q2_K/Q4_K/Q5_K a quantized min)
// per sub-block of 16 or 32 values, and fp16 super-scales d (and dmin):
//
//   type  sub-block  code bits  value                              sub-scale bits
//   Q2_K  16         2          d*sc*q - dmin*m                    4 + 4
//   Q3_K  16         3          d*(sc-32)*(q-4)                    6
//   Q4_K  32         4          d*sc*q - dmin*m                    6 + 6
//   Q5_K  32         5          d*sc*q - dmin*m                    6 + 6
//   Q6_K  16         6          d*sc*(q-32)                        8 (signed)
//
// Quantizing a super-block has three steps, all of them ggml's:
//   1. fit each sub-block on its own (a scale search, k_quants_search.h);
//   2. quantize the sub-block scales (and mins) against the super-scale;
//   3. requantize every value with the scales as they will be decoded, so
//      the codes match what a reader reconstructs.
// Without an importance matrix ggml uses its "reference" recipe per type;
// with one it uses a second recipe (other search grids, weights built from
// the imatrix and the block's spread, weighted scale quantization). Both are
// reproduced exactly, including the float evaluation order.
//
// The quantizers are written once as templates over a search policy: the
// reference instantiates them with the scalar searches, the fast path with
// the SIMD ones, so the two differ only where the tests compare them.
#include "quant/k_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/k_quants_search.h"
#include "quant/rounding.h"
#include "util/check.h"

namespace apex::quant {
namespace {

using kq::kSuperBlock;

// ---- block layouts (ggml-common.h) -----------------------------------------
// Blocks are built in these structs and copied to/from the byte stream, so the
// stream needs no alignment.

struct BlockQ2K {
  uint8_t scales[16];  // per 16 values: low nibble scale, high nibble min
  uint8_t qs[64];      // 2-bit codes
  uint16_t d;          // fp16 super-scale of the scales
  uint16_t dmin;       // fp16 super-scale of the mins
};
struct BlockQ3K {
  uint8_t hmask[32];   // high (third) bit of each code
  uint8_t qs[64];      // low two bits of each code
  uint8_t scales[12];  // 16 six-bit scales, biased by 32
  uint16_t d;
};
struct BlockQ4K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins
  uint8_t qs[128];     // 4-bit codes
};
struct BlockQ5K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];      // fifth bit of each code
  uint8_t qs[128];     // low four bits
};
struct BlockQ6K {
  uint8_t ql[128];     // low four bits of each code
  uint8_t qh[64];      // high two bits
  int8_t scales[16];   // signed 8-bit scale per 16 values
  uint16_t d;
};
static_assert(sizeof(BlockQ2K) == 84);
static_assert(sizeof(BlockQ3K) == 110);
static_assert(sizeof(BlockQ4K) == 144);
static_assert(sizeof(BlockQ5K) == 176);
static_assert(sizeof(BlockQ6K) == 210);

// ---- search policies ---------------------------------------------------------

// Each fits all sub-blocks of a super-block (k_quants_search.h).
struct RefSearch {
  static constexpr auto scale_min = kq::fit_scale_min_groups_ref;
  static constexpr auto symmetric = kq::fit_symmetric_groups_ref;
  static constexpr auto coordinate = kq::fit_symmetric_coordinate_groups_ref;
};
struct FastSearch {
  static constexpr auto scale_min = kq::fit_scale_min_groups_fast;
  static constexpr auto symmetric = kq::fit_symmetric_groups_fast;
  static constexpr auto coordinate = kq::fit_symmetric_coordinate_groups_fast;
};

// Candidate grids of the sub-block searches. The reference recipes differ
// per type; the imatrix recipe uses one finer grid for all three types.
constexpr kq::ScaleMinGrid kQ2KGrid{-0.5f, 0.1f, 15, true};
constexpr kq::ScaleMinGrid kQ4KGrid{-1.0f, 0.1f, 20, false};
constexpr kq::ScaleMinGrid kQ5KGrid{-0.5f, 0.1f, 15, false};
constexpr kq::ScaleMinGrid kImatrixGrid{-0.9f, 0.05f, 36, false};

// ---- shared pieces -------------------------------------------------------------

// Left-to-right sums, as ggml accumulates them.
float sum_of_squares(const float* x, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}
float sum_of(const float* x, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += x[i];
  return s;
}

// The imatrix recipes weight a value by its activation importance times its
// own size relative to the block's spread: qw * sqrt(sigma2 + x^2).
void importance_weights(const float* qw, const float* x, float sigma2, int n, float* w) {
  for (int i = 0; i < n; ++i) w[i] = qw[i] * std::sqrt(sigma2 + x[i] * x[i]);
}

// Codes of value x under "x ~= d*q - dm": the final requantization step of
// the types with mins. (Plain loops with no calls so that they vectorize.)
void requantize_with_min(const float* x, int n, float d, float dm, int nmax, uint8_t* q) {
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int((x[i] + dm) / d);
    q[i] = static_cast<uint8_t>(l < 0 ? 0 : (l > nmax ? nmax : l));
  }
}
// Codes under "x ~= d*(q - half)", stored biased by half.
void requantize_symmetric(const float* x, int n, float d, int half, int8_t* q) {
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(x[i] / d);
    q[i] = static_cast<int8_t>((l < -half ? -half : (l > half - 1 ? half - 1 : l)) + half);
  }
}

// Four 2-bit codes per byte: byte l of each 32-byte run holds the codes of
// elements l, l+32, l+64, l+96 of its 128-element half (Q2_K, Q3_K low bits).
template <typename Code>
void pack_2bit(const Code* codes, uint8_t* qs) {
  for (int h = 0; h < kSuperBlock / 128; ++h) {
    const Code* c = codes + 128 * h;
    for (int l = 0; l < 32; ++l) {
      qs[32 * h + l] = static_cast<uint8_t>(c[l] | (c[l + 32] << 2) | (c[l + 64] << 4) | (c[l + 96] << 6));
    }
  }
}

// Q4_K/Q5_K keep 8 six-bit scales and 8 six-bit mins in 12 bytes: sub-blocks
// 0-3 use the low six bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks
// 4-7 put their low nibbles in bytes 8-11 and their top two bits in the top
// bits of bytes 0-7. ls/lm are bytes and ggml does not mask them, so an
// out-of-range code spills into neighbouring bits exactly as it does there.
void pack_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* scales) {
  if (j < 4) {
    scales[j] = ls;
    scales[j + 4] = lm;
  } else {
    scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    scales[j - 4] = static_cast<uint8_t>(scales[j - 4] | ((ls >> 4) << 6));
    scales[j] = static_cast<uint8_t>(scales[j] | ((lm >> 4) << 6));
  }
}
void unpack_scale_min_k4(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// Q3_K keeps 16 six-bit scales in 12 bytes: low nibbles in bytes 0-7
// (sub-blocks 0-7 low half, 8-15 high half), the top two bits of sub-block j
// in byte 8 + j%4 at bit 2*(j/4). `scales` must start zeroed.
void pack_scale_q3(int j, int l, uint8_t* scales) {
  if (j < 8) {
    scales[j] = static_cast<uint8_t>(l & 0xF);
  } else {
    scales[j - 8] = static_cast<uint8_t>(scales[j - 8] | ((l & 0xF) << 4));
  }
  l >>= 4;
  scales[j % 4 + 8] = static_cast<uint8_t>(scales[j % 4 + 8] | (l << (2 * (j / 4))));
}
// The signed scale of sub-block j (-32 .. 31).
int unpack_scale_q3(int j, const uint8_t* scales) {
  const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// ---- Q2_K ----------------------------------------------------------------------

// Requantize with the decoded 4-bit scales and mins; sub-blocks whose scale
// decodes to zero keep the codes from their search.
void finish_q2_k(const float* x, uint8_t* L, BlockQ2K& y) {
  const float d_all = fp16_to_fp32(y.d);
  const float m_all = fp16_to_fp32(y.dmin);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(y.scales[j] & 0xF);
    if (d == 0) continue;
    const float dm = m_all * static_cast<float>(y.scales[j] >> 4);
    requantize_with_min(x + 16 * j, 16, d, dm, 3, L + 16 * j);
  }
  pack_2bit(L, y.qs);
}

template <class Search>
void q2_k_block_plain(const float* x, BlockQ2K& y) {
  uint8_t L[kSuperBlock];
  float w[kSuperBlock], scales[16], mins[16];
  for (int i = 0; i < kSuperBlock; ++i) w[i] = std::fabs(x[i]);
  Search::scale_min(x, w, 16, 16, 3, kQ2KGrid, L, scales, mins);
  // Sub-block scales and mins are both non-negative here.
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  // Scales and mins map linearly onto 0..15 (no clamp; ggml has none).
  constexpr float kLevels = 15.f;
  if (max_scale > 0) {
    const float iscale = kLevels / max_scale;
    for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
    y.d = fp32_to_fp16(max_scale / kLevels);
  } else {
    std::fill(y.scales, y.scales + 16, uint8_t{0});
    y.d = fp32_to_fp16(0.f);
  }
  if (max_min > 0) {
    const float iscale = kLevels / max_min;
    for (int j = 0; j < 16; ++j) {
      y.scales[j] = static_cast<uint8_t>(y.scales[j] | (nearest_int(iscale * mins[j]) << 4));
    }
    y.dmin = fp32_to_fp16(max_min / kLevels);
  } else {
    y.dmin = fp32_to_fp16(0.f);
  }
  finish_q2_k(x, L, y);
}

template <class Search>
void q2_k_block_weighted(const float* x, const float* qw, BlockQ2K& y) {
  uint8_t L[kSuperBlock];
  float w[kSuperBlock], scales[16], mins[16], sw[16];
  uint8_t Ls[16], Lm[16];
  const float sigma2 = sum_of_squares(x, kSuperBlock) / kSuperBlock;
  importance_weights(qw, x, sigma2, kSuperBlock, w);
  for (int j = 0; j < 16; ++j) sw[j] = sum_of(w + 16 * j, 16);
  Search::scale_min(x, w, 16, 16, 3, kImatrixGrid, L, scales, mins);
  // The scales and mins are quantized with a weighted search of their own,
  // each sub-block weighted by its total importance.
  const float dm = kq::fit_unsigned(scales, sw, 16, 15, Ls);
  const float mm = kq::fit_unsigned(mins, sw, 16, 15, Lm);
  y.d = fp32_to_fp16(dm);
  y.dmin = fp32_to_fp16(mm);
  for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(Ls[j] | (Lm[j] << 4));
  finish_q2_k(x, L, y);
}

// ---- Q3_K ----------------------------------------------------------------------

void finish_q3_k(const float* x, int8_t* L, BlockQ3K& y) {
  const float d_all = fp16_to_fp32(y.d);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(unpack_scale_q3(j, y.scales));
    if (d == 0) continue;
    requantize_symmetric(x + 16 * j, 16, d, 4, L + 16 * j);
  }
  // Codes 0..7: the third bit of element j goes to bit j/32 of hmask[j%32],
  // the low two bits to qs.
  for (int m = 0; m < 32; ++m) {
    int bits = 0;
    for (int b = 0; b < 8; ++b) bits |= (L[32 * b + m] >> 2) << b;
    y.hmask[m] = static_cast<uint8_t>(bits);
  }
  for (int j = 0; j < kSuperBlock; ++j) L[j] = static_cast<int8_t>(L[j] & 3);
  pack_2bit(L, y.qs);
}

template <class Search>
void q3_k_block_plain(const float* x, BlockQ3K& y) {
  int8_t L[kSuperBlock];
  float scales[16];
  Search::coordinate(x, 16, 16, 4, L, scales);
  // The scale of largest magnitude, with its sign: it maps to -32.
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    const float a = std::fabs(scales[j]);
    if (a > amax) {
      amax = a;
      max_scale = scales[j];
    }
  }
  std::fill(y.scales, y.scales + 12, uint8_t{0});
  if (max_scale != 0) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      // ggml narrows the rounded value to a signed byte before clamping.
      const int8_t narrow = static_cast<int8_t>(nearest_int(iscale * scales[j]));
      pack_scale_q3(j, std::clamp<int>(narrow, -32, 31) + 32, y.scales);
    }
    y.d = fp32_to_fp16(1 / iscale);
  } else {
    y.d = fp32_to_fp16(0.f);
  }
  finish_q3_k(x, L, y);
}

template <class Search>
void q3_k_block_weighted(const float* x, const float* qw, BlockQ3K& y) {
  int8_t L[kSuperBlock];
  float w[kSuperBlock], scales[16], sw[16];
  int8_t Ls[16];
  const float sigma2 = 2 * sum_of_squares(x, kSuperBlock) / kSuperBlock;
  importance_weights(qw, x, sigma2, kSuperBlock, w);
  for (int j = 0; j < 16; ++j) sw[j] = sum_of(w + 16 * j, 16);
  Search::symmetric(x, w, 16, 16, 4, L, scales);
  // The signed sub-block scales are themselves fitted symmetrically (codes
  // 0..63 around 32), weighted by each sub-block's total importance. One
  // group only, so the scalar search serves both paths.
  std::fill(y.scales, y.scales + 12, uint8_t{0});
  const float d_block = kq::fit_symmetric_ref(scales, sw, 16, 32, Ls);
  for (int j = 0; j < 16; ++j) pack_scale_q3(j, Ls[j], y.scales);
  y.d = fp32_to_fp16(d_block);
  finish_q3_k(x, L, y);
}

// ---- Q4_K and Q5_K ---------------------------------------------------------------

// Codes 0..31 split into a low nibble (two per byte: elements l and l+32 of
// each 64-element pair of sub-blocks) and, for Q5_K, a fifth bit in qh.
void pack_nibbles(const uint8_t* L, uint8_t* qs) {
  for (int c = 0; c < kSuperBlock / 64; ++c) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * c + l] = static_cast<uint8_t>((L[64 * c + l] & 0xF) | ((L[64 * c + l + 32] & 0xF) << 4));
    }
  }
}

struct Q4KTraits {
  using Block = BlockQ4K;
  static constexpr int kMax = 15;
  static constexpr const kq::ScaleMinGrid& kPlainGrid = kQ4KGrid;
  // ggml clamps the imatrix-path codes to 63 for Q5_K but not for Q4_K.
  static constexpr bool kClampWeightedCodes = false;
  static void pack(const uint8_t* L, Block& y) { pack_nibbles(L, y.qs); }
};
struct Q5KTraits {
  using Block = BlockQ5K;
  static constexpr int kMax = 31;
  static constexpr const kq::ScaleMinGrid& kPlainGrid = kQ5KGrid;
  static constexpr bool kClampWeightedCodes = true;
  // Element 64c + l has its fifth bit at bit 2c of qh[l], element
  // 64c + 32 + l at bit 2c + 1 (codes are at most 31).
  static void pack(const uint8_t* L, Block& y) {
    for (int l = 0; l < 32; ++l) {
      int bits = 0;
      for (int c = 0; c < kSuperBlock / 64; ++c) {
        bits |= ((L[64 * c + l] >> 4) << (2 * c)) | ((L[64 * c + l + 32] >> 4) << (2 * c + 1));
      }
      y.qh[l] = static_cast<uint8_t>(bits);
    }
    pack_nibbles(L, y.qs);
  }
};

template <class T>
void finish_k4(const float* x, uint8_t* L, typename T::Block& y) {
  const float d_all = fp16_to_fp32(y.d);
  const float m_all = fp16_to_fp32(y.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, y.scales, &sc, &m);
    const float d = d_all * static_cast<float>(sc);
    if (d == 0) continue;
    const float dm = m_all * static_cast<float>(m);
    requantize_with_min(x + 32 * j, 32, d, dm, T::kMax, L + 32 * j);
  }
  T::pack(L, y);
}

template <class T, class Search>
void k4_block_plain(const float* x, typename T::Block& y) {
  uint8_t L[kSuperBlock];
  float w[kSuperBlock], scales[8], mins[8];
  for (int j = 0; j < 8; ++j) {
    // Weight each value by the sub-block's RMS plus its own magnitude.
    const float av_x = std::sqrt(sum_of_squares(x + 32 * j, 32) / 32);
    for (int l = 32 * j; l < 32 * j + 32; ++l) w[l] = av_x + std::fabs(x[l]);
  }
  Search::scale_min(x, w, 8, 32, T::kMax, T::kPlainGrid, L, scales, mins);
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    // Narrowed to a byte first, then clamped, as ggml does.
    const auto ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
    const auto lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
    pack_scale_min_k4(j, std::min<uint8_t>(63, ls), std::min<uint8_t>(63, lm), y.scales);
  }
  y.d = fp32_to_fp16(max_scale / 63.f);
  y.dmin = fp32_to_fp16(max_min / 63.f);
  finish_k4<T>(x, L, y);
}

template <class T, class Search>
void k4_block_weighted(const float* x, const float* qw, typename T::Block& y) {
  uint8_t L[kSuperBlock];
  float w[kSuperBlock], scales[8], mins[8], sw[8];
  uint8_t Ls[8], Lm[8];
  const float sigma2 = 2 * sum_of_squares(x, kSuperBlock) / kSuperBlock;
  importance_weights(qw, x, sigma2, kSuperBlock, w);
  for (int j = 0; j < 8; ++j) sw[j] = sum_of(w + 32 * j, 32);
  Search::scale_min(x, w, 8, 32, T::kMax, kImatrixGrid, L, scales, mins);
  const float d_block = kq::fit_unsigned(scales, sw, 8, 63, Ls);
  const float m_block = kq::fit_unsigned(mins, sw, 8, 63, Lm);
  for (int j = 0; j < 8; ++j) {
    uint8_t ls = Ls[j], lm = Lm[j];
    if (T::kClampWeightedCodes) {
      ls = std::min<uint8_t>(63, ls);
      lm = std::min<uint8_t>(63, lm);
    }
    pack_scale_min_k4(j, ls, lm, y.scales);
  }
  y.d = fp32_to_fp16(d_block);
  y.dmin = fp32_to_fp16(m_block);
  finish_k4<T>(x, L, y);
}

// ---- Q6_K ----------------------------------------------------------------------

// Both recipes share everything but the search weights: x^2 without an
// imatrix, the raw importance values with one (no sigma2 term here).
template <class Search>
void q6_k_block(const float* x, const float* qw, BlockQ6K& y) {
  int8_t L[kSuperBlock];
  float scales[16];
  Search::symmetric(x, qw, 16, 16, 32, L, scales);
  float max_scale = 0, max_abs_scale = 0;
  for (int j = 0; j < 16; ++j) {
    const float a = std::fabs(scales[j]);
    if (a > max_abs_scale) {
      max_abs_scale = a;
      max_scale = scales[j];
    }
  }
  if (max_abs_scale < kq::kGroupMaxEps) {
    y = BlockQ6K{};  // all codes and scales zero, d = +0
    return;
  }
  // The largest scale maps to -128; the others are rounded and capped at 127.
  const float iscale = -128.f / max_scale;
  y.d = fp32_to_fp16(1 / iscale);
  for (int j = 0; j < 16; ++j) {
    y.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
  }
  const float d_all = fp16_to_fp32(y.d);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(y.scales[j]);
    if (d == 0) continue;
    requantize_symmetric(x + 16 * j, 16, d, 32, L + 16 * j);
  }
  // Codes 0..63: low nibbles of elements l and l+64 share ql[l] (l+32 and
  // l+96 share ql[l+32]) per 128-element half; the top two bits of elements
  // l, l+32, l+64, l+96 fill qh[l].
  for (int h = 0; h < 2; ++h) {
    const int8_t* c = L + 128 * h;
    uint8_t* ql = y.ql + 64 * h;
    uint8_t* qh = y.qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((c[l] & 0xF) | ((c[l + 64] & 0xF) << 4));
      ql[l + 32] = static_cast<uint8_t>((c[l + 32] & 0xF) | ((c[l + 96] & 0xF) << 4));
      qh[l] = static_cast<uint8_t>((c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) |
                                   ((c[l + 96] >> 4) << 6));
    }
  }
}

// ---- row drivers -----------------------------------------------------------------

// Quantizes rows block by block: `plain(x, block)` without an imatrix,
// `weighted(x, qw, block)` with one, the importance slice following the
// block's position in the row.
template <typename Block, typename Plain, typename Weighted>
size_t quantize_k_rows(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix,
                       Plain plain, Weighted weighted) {
  APEX_CHECK(n_per_row % kSuperBlock == 0, "row of {} values is not a multiple of {}", n_per_row, kSuperBlock);
  const int64_t nb = n_per_row / kSuperBlock;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* x = src + r * n_per_row + b * kSuperBlock;
      Block y{};
      if (imatrix != nullptr) {
        weighted(x, imatrix + b * kSuperBlock, y);
      } else {
        plain(x, y);
      }
      std::memcpy(out, &y, sizeof(Block));
      out += sizeof(Block);
    }
  }
  return static_cast<size_t>(nrows * nb) * sizeof(Block);
}

template <typename Block>
Block load_block(const void* src, int64_t i) {
  Block b;
  std::memcpy(&b, static_cast<const uint8_t*>(src) + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
  return b;
}

// ggml_validate_row_data: the size must be whole blocks, and the fp16
// super-scales must be finite.
bool fp16_finite(uint16_t h) { return (h & 0x7c00) != 0x7c00; }

template <typename Block, bool kHasMin>
bool validate_k(const void* data, size_t nbytes) {
  if (nbytes % sizeof(Block) != 0) return false;
  const size_t nb = nbytes / sizeof(Block);
  for (size_t i = 0; i < nb; ++i) {
    const Block b = load_block<Block>(data, static_cast<int64_t>(i));
    if (!fp16_finite(b.d)) return false;
    if constexpr (kHasMin) {
      if (!fp16_finite(b.dmin)) return false;
    }
  }
  return true;
}

template <class Search>
size_t quantize_q2_k_with(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k_rows<BlockQ2K>(src, dst, nrows, n_per_row, imatrix, q2_k_block_plain<Search>,
                                   q2_k_block_weighted<Search>);
}
template <class Search>
size_t quantize_q3_k_with(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k_rows<BlockQ3K>(src, dst, nrows, n_per_row, imatrix, q3_k_block_plain<Search>,
                                   q3_k_block_weighted<Search>);
}
template <class T, class Search>
size_t quantize_k4_with(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k_rows<typename T::Block>(src, dst, nrows, n_per_row, imatrix, k4_block_plain<T, Search>,
                                            k4_block_weighted<T, Search>);
}
template <class Search>
size_t quantize_q6_k_with(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k_rows<BlockQ6K>(
      src, dst, nrows, n_per_row, imatrix, [](const float* x, BlockQ6K& y) { q6_k_block<Search>(x, nullptr, y); },
      q6_k_block<Search>);
}

}  // namespace

// ---- public entry points -----------------------------------------------------------

size_t quantize_q2_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_q2_k_with<FastSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q2_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_q2_k_with<RefSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q3_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_q3_k_with<FastSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q3_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_q3_k_with<RefSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q4_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k4_with<Q4KTraits, FastSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q4_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k4_with<Q4KTraits, RefSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q5_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k4_with<Q5KTraits, FastSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q5_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_k4_with<Q5KTraits, RefSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q6_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_q6_k_with<FastSearch>(src, dst, nrows, n_per_row, imatrix);
}
size_t quantize_q6_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_q6_k_with<RefSearch>(src, dst, nrows, n_per_row, imatrix);
}

// ---- dequantization ----------------------------------------------------------------
// Each value is computed as ggml's to_float computes it (same products in the
// same grouping), so the floats are bit-identical.

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
  const int64_t nb = n / kSuperBlock;
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ2K b = load_block<BlockQ2K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float dmin = fp16_to_fp32(b.dmin);
    float* y = dst + i * kSuperBlock;
    // Sub-block j = 8h + 2s + t covers elements 128h + 32s + 16t + l and
    // reads bits 2s of qs[32h + 16t + l].
    for (int j = 0; j < 16; ++j) {
      const int h = j / 8, s = (j % 8) / 2, t = j % 2;
      const float dl = d * static_cast<float>(b.scales[j] & 0xF);
      const float ml = dmin * static_cast<float>(b.scales[j] >> 4);
      const uint8_t* q = b.qs + 32 * h + 16 * t;
      float* out = y + 16 * j;
      for (int l = 0; l < 16; ++l) out[l] = dl * static_cast<float>((q[l] >> (2 * s)) & 3) - ml;
    }
  }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
  const int64_t nb = n / kSuperBlock;
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ3K b = load_block<BlockQ3K>(src, i);
    const float d_all = fp16_to_fp32(b.d);
    float* y = dst + i * kSuperBlock;
    for (int j = 0; j < 16; ++j) {
      const int h = j / 8, s = (j % 8) / 2, t = j % 2;
      const float dl = d_all * static_cast<float>(unpack_scale_q3(j, b.scales));
      const uint8_t* q = b.qs + 32 * h + 16 * t;
      const uint8_t* hm = b.hmask + 16 * t;
      const int hbit = 4 * h + s;  // element e's high bit is bit e/32 of hmask[e%32]
      float* out = y + 16 * j;
      for (int l = 0; l < 16; ++l) {
        const int code = ((q[l] >> (2 * s)) & 3) - (((hm[l] >> hbit) & 1) ? 0 : 4);
        out[l] = dl * static_cast<float>(code);
      }
    }
  }
}

namespace {
// Sub-blocks 2c and 2c+1 share qs[32c .. 32c+32): low and high nibbles; for
// Q5_K their fifth bits are bits 2c and 2c+1 of qh[l].
template <bool kFifthBit, typename Block>
void dequantize_k4(const Block& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int c = 0; c < 4; ++c) {
    uint8_t sc, m;
    unpack_scale_min_k4(2 * c, b.scales, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    unpack_scale_min_k4(2 * c + 1, b.scales, &sc, &m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    const uint8_t* q = b.qs + 32 * c;
    float* out = y + 64 * c;
    for (int l = 0; l < 32; ++l) {
      int code = q[l] & 0xF;
      if constexpr (kFifthBit) code |= ((b.qh[l] >> (2 * c)) & 1) << 4;
      out[l] = d1 * static_cast<float>(code) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      int code = q[l] >> 4;
      if constexpr (kFifthBit) code |= ((b.qh[l] >> (2 * c + 1)) & 1) << 4;
      out[32 + l] = d2 * static_cast<float>(code) - m2;
    }
  }
}
}  // namespace

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    dequantize_k4<false>(load_block<BlockQ4K>(src, i), dst + i * kSuperBlock);
  }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    dequantize_k4<true>(load_block<BlockQ5K>(src, i), dst + i * kSuperBlock);
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const int64_t nb = n / kSuperBlock;
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ6K b = load_block<BlockQ6K>(src, i);
    const float d = fp16_to_fp32(b.d);
    float* y = dst + i * kSuperBlock;
    // Element e = 128h + 32k + l (k = 0..3): low nibble k/2 of ql[64h + 32(k%2) + l],
    // high bits 2k of qh[32h + l], scale 8h + 2k + l/16.
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        const uint8_t* ql = b.ql + 64 * h + 32 * (k % 2);
        const uint8_t* qh = b.qh + 32 * h;
        for (int half = 0; half < 2; ++half) {
          // ggml multiplies d by the scale first, then by the code.
          const float dl = d * static_cast<float>(b.scales[8 * h + 2 * k + half]);
          float* out = y + 128 * h + 32 * k + 16 * half;
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int code = (((ql[l] >> (4 * (k / 2))) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
            out[l - 16 * half] = dl * static_cast<float>(code);
          }
        }
      }
    }
  }
}

bool validate_q2_k(const void* data, size_t nbytes) { return validate_k<BlockQ2K, true>(data, nbytes); }
bool validate_q3_k(const void* data, size_t nbytes) { return validate_k<BlockQ3K, false>(data, nbytes); }
bool validate_q4_k(const void* data, size_t nbytes) { return validate_k<BlockQ4K, true>(data, nbytes); }
bool validate_q5_k(const void* data, size_t nbytes) { return validate_k<BlockQ5K, true>(data, nbytes); }
bool validate_q6_k(const void* data, size_t nbytes) { return validate_k<BlockQ6K, false>(data, nbytes); }

}  // namespace apex::quant
