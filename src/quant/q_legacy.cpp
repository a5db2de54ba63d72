// The classic 32-element block formats. Byte layouts (ggml-common.h), all
// little-endian, scales as IEEE half:
//   Q4_0  d, qs[16]              x = (q - 8) * d        q in 0..15
//   Q4_1  d, m, qs[16]           x = q * d + m          q in 0..15
//   Q5_0  d, qh[4], qs[16]       x = (q - 16) * d       q in 0..31
//   Q5_1  d, m, qh[4], qs[16]    x = q * d + m          q in 0..31
//   Q8_0  d, qs[32] (int8)       x = q * d
// In qs, byte j holds element j in its low nibble and element j + 16 in its
// high nibble; bit j of the 32-bit qh is the fifth bit of element j.
//
// Without importance weights every format is a one-pass min/max rounding.
// With them (ggml_quantize_chunk's imatrix argument) Q4_0/Q4_1/Q5_0/Q5_1 run a
// weighted scale search instead; Q8_0 ignores them. Float expressions below are
// written in the same evaluation order as llama.cpp's, since byte identity
// depends on every intermediate rounding.
#include "quant/q_legacy.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/q_legacy_simd.h"
#include "quant/rounding.h"

namespace apex::quant {
namespace {

constexpr int kBlock = 32;
constexpr int kHalfBlock = kBlock / 2;

constexpr size_t kBytesQ4_0 = 2 + kHalfBlock;
constexpr size_t kBytesQ4_1 = 2 + 2 + kHalfBlock;
constexpr size_t kBytesQ5_0 = 2 + 4 + kHalfBlock;
constexpr size_t kBytesQ5_1 = 2 + 2 + 4 + kHalfBlock;
constexpr size_t kBytesQ8_0 = 2 + kBlock;

// Below this block magnitude ggml's weighted search treats the block as zero.
constexpr float kGroupMaxEps = 1e-15f;

void store_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, sizeof h);
}

uint16_t load_u16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return h;
}

// ggml writes each rounded code with a plain C cast from float to an 8-bit
// integer. Outside the target range that cast is undefined in C; the x86-64
// oracle computes it with a truncating 32-bit conversion (INT32_MIN for NaN,
// infinities and |v| >= 2^31) and keeps the low byte. Such values only arise
// for degenerate blocks (e.g. a subnormal scale whose reciprocal is huge), but
// they still have to come out as the same bytes.
uint8_t low_byte_of_trunc(float v) {
  if (!(std::fabs(v) < 2147483648.0f)) return 0;
  return static_cast<uint8_t>(static_cast<int32_t>(v));
}
int int8_of_trunc(float v) { return static_cast<int8_t>(low_byte_of_trunc(v)); }

// Packs 32 codes (only the low 5 bits are kept) into qs nibbles and, when qh is
// non-null, the fifth bits into qh.
void pack_nibbles(const uint8_t* codes, uint8_t* qs, uint8_t* qh) {
  uint32_t high_bits = 0;
  for (int j = 0; j < kHalfBlock; ++j) {
    const uint8_t lo = codes[j];
    const uint8_t hi = codes[j + kHalfBlock];
    qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
    high_bits |= static_cast<uint32_t>((lo >> 4) & 1u) << j;
    high_bits |= static_cast<uint32_t>((hi >> 4) & 1u) << (j + kHalfBlock);
  }
  if (qh != nullptr) std::memcpy(qh, &high_bits, sizeof high_bits);
}

// The element of largest magnitude, with its sign; on ties the first one wins
// (the sign of the scale depends on it).
float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// ---- plain reference quantizers (one block) --------------------------------

// Symmetric 4/5-bit: the signed extreme maps to the lowest code, so the
// side of the extreme gets the full range and the scale is max / -2^(bits-1).
// `offset` is 2^(bits-1) + 0.5: adding it and truncating rounds to nearest.
void quantize_symmetric_block(const float* x, int half_range, float offset, int top_code,
                              uint8_t* codes, float* scale) {
  const float max = signed_absmax(x, kBlock);
  const float d = max / static_cast<float>(-half_range);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  *scale = d;
  for (int j = 0; j < kBlock; ++j) {
    codes[j] = static_cast<uint8_t>(std::min(top_code, int8_of_trunc(x[j] * id + offset)));
  }
}

// Affine 4/5-bit formats span [min, max] in equal steps. The scan keeps the
// first element equal to each extreme (so the sign of a zero min survives).
void block_min_max(const float* x, float* min_out, float* max_out) {
  float min = FLT_MAX;
  float max = -FLT_MAX;
  for (int j = 0; j < kBlock; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  *min_out = min;
  *max_out = max;
}

}  // namespace

namespace legacy_detail {

void quantize_block_q4_0_ref(const float* x, uint8_t* out) {
  uint8_t codes[kBlock];
  float d;
  quantize_symmetric_block(x, 8, 8.5f, 15, codes, &d);
  store_half(out, d);
  // Whole bytes are OR-ed, not nibbles: a code that wrapped to a negative
  // byte would spill into the high nibble in ggml, so it does here too.
  for (int j = 0; j < kHalfBlock; ++j) {
    out[2 + j] = static_cast<uint8_t>(codes[j] | (codes[j + kHalfBlock] << 4));
  }
}

void quantize_block_q5_0_ref(const float* x, uint8_t* out) {
  uint8_t codes[kBlock];
  float d;
  quantize_symmetric_block(x, 16, 16.5f, 31, codes, &d);
  store_half(out, d);
  pack_nibbles(codes, out + 6, out + 2);
}

void quantize_block_q4_1_ref(const float* x, uint8_t* out) {
  float min, max;
  block_min_max(x, &min, &max);
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  store_half(out + 2, min);
  uint8_t codes[kBlock];
  for (int j = 0; j < kBlock; ++j) {
    codes[j] = static_cast<uint8_t>(std::min(15, int8_of_trunc((x[j] - min) * id + 0.5f)));
  }
  for (int j = 0; j < kHalfBlock; ++j) {
    out[4 + j] = static_cast<uint8_t>(codes[j] | (codes[j + kHalfBlock] << 4));
  }
}

void quantize_block_q5_1_ref(const float* x, uint8_t* out) {
  float min, max;
  block_min_max(x, &min, &max);
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  store_half(out + 2, min);
  uint8_t codes[kBlock];
  // No clamp: (x - min) * id never exceeds 31 + rounding, so ggml omits it.
  for (int j = 0; j < kBlock; ++j) codes[j] = low_byte_of_trunc((x[j] - min) * id + 0.5f);
  pack_nibbles(codes, out + 8, out + 4);
}

void quantize_block_q8_0_ref(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_half(out, d);
  // roundf: halves away from zero (not the ties-to-even of nearest_int).
  for (int j = 0; j < kBlock; ++j) out[2 + j] = low_byte_of_trunc(std::round(x[j] * id));
}

float fp16_to_fp32_quiet(uint16_t h) {
  float f = fp16_to_fp32(h);
  if ((h & 0x7c00u) == 0x7c00u && (h & 0x03ffu) != 0) {
    f = std::bit_cast<float>(std::bit_cast<uint32_t>(f) | 0x00400000u);
  }
  return f;
}

}  // namespace legacy_detail

namespace {

// ---- importance-weighted quantizers ------------------------------------------

// Per-element weights of a block: the imatrix entry times the element's
// magnitude relative to the row's mean square, sqrt(sigma2 + x^2).
float row_mean_square(const float* x, int64_t n) {
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum += x[j] * x[j];
  return sum / static_cast<float>(n);
}

void block_weights(const float* x, const float* qw, float sigma2, float* w) {
  for (int j = 0; j < kBlock; ++j) w[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

using legacy_simd::kAffineCandidates;
using legacy_simd::kSymmetricCandidates;

// Inverse scale of symmetric candidate k: -(nmax + step/10) / max, steps -9..9
// without 0 (step 0 is the starting point).
float symmetric_candidate_iscale(int k, int nmax, float max) {
  const int step = k < 9 ? k - 9 : k - 8;
  return -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
}

int symmetric_code(float iscale, float v, int nmax) {
  return std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * v)));
}

// Scores every symmetric candidate: sum w*x*l and sum w*l*l over the block.
// Candidates are independent of each other, so the vector version evaluates
// them side by side (one per lane) with the same per-candidate arithmetic.
void score_symmetric_scalar(const float* x, const float* w, int nmax, float max,
                            legacy_simd::SymmetricScores* s) {
  for (int k = 0; k < kSymmetricCandidates; ++k) {
    const float iscale = symmetric_candidate_iscale(k, nmax, max);
    float lx = 0.0f;
    float l2 = 0.0f;
    for (int i = 0; i < kBlock; ++i) {
      const float l = static_cast<float>(symmetric_code(iscale, x[i], nmax));
      lx += w[i] * x[i] * l;
      l2 += w[i] * l * l;
    }
    s->sumlx[k] = lx;
    s->suml2[k] = l2;
  }
}

// Symmetric codes in [-nmax, nmax - 1] for x ~ scale * code, maximising the
// weighted fit (sum w x l)^2 / (sum w l^2) over the starting inverse scale
// -nmax / max and 18 candidates around it. Codes come back offset by nmax.
float weighted_symmetric_scale(const float* x, const float* w, int nmax, bool vectorized,
                               uint8_t* codes) {
  float max = 0.0f;
  float amax = 0.0f;
  for (int i = 0; i < kBlock; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(codes, codes + kBlock, static_cast<uint8_t>(0));
    return 0.0f;
  }
  float best_iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0.0f;
  float suml2 = 0.0f;
  for (int i = 0; i < kBlock; ++i) {
    const float l = static_cast<float>(symmetric_code(best_iscale, x[i], nmax));
    sumlx += w[i] * x[i] * l;
    suml2 += w[i] * l * l;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;

  legacy_simd::SymmetricScores s;
  if (vectorized) {
    legacy_simd::score_symmetric_candidates(x, w, nmax, max, &s);
  } else {
    score_symmetric_scalar(x, w, nmax, max, &s);
  }
  // Candidates are taken in order and a later one must beat the current best
  // strictly; comparing sumlx^2 > best * suml2 avoids a division.
  for (int k = 0; k < kSymmetricCandidates; ++k) {
    if (s.suml2[k] > 0.0f && s.sumlx[k] * s.sumlx[k] > best * s.suml2[k]) {
      best_iscale = symmetric_candidate_iscale(k, nmax, max);
      scale = s.sumlx[k] / s.suml2[k];
      best = scale * s.sumlx[k];
    }
  }
  for (int i = 0; i < kBlock; ++i) {
    codes[i] = static_cast<uint8_t>(nmax + symmetric_code(best_iscale, x[i], nmax));
  }
  return scale;
}

// Inverse scale of affine candidate k (0..36): (nmax - 0.9 + 0.05 k) / range.
float affine_candidate_iscale(int k, int nmax, float range) {
  return (-0.9f + 0.05f * static_cast<float>(k) + static_cast<float>(nmax)) / range;
}

int affine_code(float iscale, float v, int nmax) {
  return std::max(0, std::min(nmax, nearest_int(iscale * v)));
}

// Affine codes in [0, nmax] for x ~ scale * code + min (min <= 0): starts
// from the plain min/max grid, then walks 37 candidate grids in order; each
// gets the weighted least-squares scale and offset for its codes (offset
// pinned at 0 when it would come out positive) and replaces the current best
// if its weighted squared error is smaller. Note that ggml lays each grid out
// from the *current* offset, which a winning candidate replaces, so later
// candidates depend on earlier winners. Returns the scale; *min_out receives
// the offset.
float weighted_affine_scale(const float* x, const float* w, int nmax, bool vectorized,
                            uint8_t* codes, float* min_out) {
  float min = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < kBlock; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0.0f) min = 0.0f;  // the offset never goes positive: zero stays representable
  if (max <= min) {
    std::fill(codes, codes + kBlock, static_cast<uint8_t>(0));
    *min_out = min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1.0f / iscale;
  float best_err = 0.0f;
  for (int i = 0; i < kBlock; ++i) {
    codes[i] = static_cast<uint8_t>(affine_code(iscale, x[i] - min, nmax));
    const float diff = scale * static_cast<float>(codes[i]) + min - x[i];
    best_err += w[i] * (diff * diff);
  }

  if (vectorized) {
    // Score all remaining candidates at once against the current offset; the
    // first that wins changes the offset, so rescore from the one after it.
    legacy_simd::AffineScores s;
    for (int first = 0; first < kAffineCandidates;) {
      legacy_simd::score_affine_candidates(x, w, nmax, min, max, sum_w, sum_x, first, &s);
      int k = first;
      while (k < kAffineCandidates && !(s.valid[k] && s.err[k] < best_err)) ++k;
      if (k == kAffineCandidates) break;
      const float grid_iscale = affine_candidate_iscale(k, nmax, max - min);
      for (int i = 0; i < kBlock; ++i) {
        codes[i] = static_cast<uint8_t>(affine_code(grid_iscale, x[i] - min, nmax));
      }
      best_err = s.err[k];
      scale = s.scale[k];
      min = s.offset[k];
      first = k + 1;
    }
    *min_out = min;
    return scale;
  }

  uint8_t trial[kBlock];
  for (int k = 0; k < kAffineCandidates; ++k) {
    iscale = affine_candidate_iscale(k, nmax, max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < kBlock; ++i) {
      const int l = affine_code(iscale, x[i] - min, nmax);
      trial[i] = static_cast<uint8_t>(l);
      const float lf = static_cast<float>(l);
      sum_l += w[i] * lf;
      sum_l2 += w[i] * lf * lf;
      sum_xl += w[i] * lf * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0.0f)) continue;  // singular normal equations: skip
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0.0f) {
      // Best offset is positive: pin it at zero and refit the scale alone.
      this_min = 0.0f;
      this_scale = sum_xl / sum_l2;
    }
    float err = 0.0f;
    for (int i = 0; i < kBlock; ++i) {
      const float diff = this_scale * static_cast<float>(trial[i]) + this_min - x[i];
      err += w[i] * (diff * diff);
    }
    if (err < best_err) {
      std::copy(trial, trial + kBlock, codes);
      best_err = err;
      scale = this_scale;
      min = this_min;
    }
  }
  *min_out = min;
  return scale;
}

// One row with importance weights. BlockFn(x, w, out) writes one block.
template <typename BlockFn>
void quantize_weighted_row(const float* x, uint8_t* out, int64_t n_per_row, size_t block_bytes,
                           const float* imatrix, BlockFn block) {
  const float sigma2 = row_mean_square(x, n_per_row);
  float w[kBlock];
  for (int64_t ib = 0; ib < n_per_row / kBlock; ++ib) {
    block_weights(x + ib * kBlock, imatrix + ib * kBlock, sigma2, w);
    block(x + ib * kBlock, w, out + ib * block_bytes);
  }
}

template <bool kVectorized>
void weighted_block_q4_0(const float* x, const float* w, uint8_t* out) {
  uint8_t codes[kBlock];
  store_half(out, weighted_symmetric_scale(x, w, 8, kVectorized, codes));
  pack_nibbles(codes, out + 2, nullptr);
}

template <bool kVectorized>
void weighted_block_q5_0(const float* x, const float* w, uint8_t* out) {
  uint8_t codes[kBlock];
  store_half(out, weighted_symmetric_scale(x, w, 16, kVectorized, codes));
  pack_nibbles(codes, out + 6, out + 2);
}

template <bool kVectorized>
void weighted_block_q4_1(const float* x, const float* w, uint8_t* out) {
  uint8_t codes[kBlock];
  float min;
  store_half(out, weighted_affine_scale(x, w, 15, kVectorized, codes, &min));
  store_half(out + 2, min);
  pack_nibbles(codes, out + 4, nullptr);
}

template <bool kVectorized>
void weighted_block_q5_1(const float* x, const float* w, uint8_t* out) {
  uint8_t codes[kBlock];
  float min;
  store_half(out, weighted_affine_scale(x, w, 31, kVectorized, codes, &min));
  store_half(out + 2, min);
  pack_nibbles(codes, out + 8, out + 4);
}

// ---- row drivers ---------------------------------------------------------------

using RefBlockFn = void (*)(const float*, uint8_t*);
using WeightedBlockFn = void (*)(const float*, const float*, uint8_t*);
using FastBlocksFn = void (*)(const float*, uint8_t*, int64_t);

size_t quantize_rows_impl(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                          const float* imatrix, size_t block_bytes, RefBlockFn ref,
                          FastBlocksFn fast, WeightedBlockFn weighted) {
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t blocks_per_row = n_per_row / kBlock;
  const size_t row_bytes = static_cast<size_t>(blocks_per_row) * block_bytes;
  if (imatrix != nullptr && weighted != nullptr) {
    for (int64_t r = 0; r < nrows; ++r) {
      quantize_weighted_row(src + r * n_per_row, out + r * row_bytes, n_per_row, block_bytes,
                            imatrix, weighted);
    }
  } else if (fast != nullptr) {
    fast(src, out, nrows * blocks_per_row);
  } else {
    for (int64_t b = 0; b < nrows * blocks_per_row; ++b)
      ref(src + b * kBlock, out + b * block_bytes);
  }
  return static_cast<size_t>(nrows) * row_bytes;
}

// ---- dequantizers and validation --------------------------------------------

// Every scale field (at the given byte offsets in each block) must be a
// finite half; that is all ggml_validate_row_data checks for these formats.
bool halves_finite(const void* data, size_t nbytes, size_t block_bytes, size_t off_a,
                   size_t off_b) {
  if (nbytes % block_bytes != 0) return false;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t b = 0; b < nbytes / block_bytes; ++b) {
    const uint8_t* blk = p + b * block_bytes;
    if ((load_u16(blk + off_a) & 0x7c00u) == 0x7c00u) return false;
    if ((load_u16(blk + off_b) & 0x7c00u) == 0x7c00u) return false;
  }
  return true;
}

}  // namespace

using legacy_detail::quantize_block_q4_0_ref;
using legacy_detail::quantize_block_q4_1_ref;
using legacy_detail::quantize_block_q5_0_ref;
using legacy_detail::quantize_block_q5_1_ref;
using legacy_detail::quantize_block_q8_0_ref;

// Q4_0 --------------------------------------------------------------------------
size_t quantize_q4_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ4_0,
                            quantize_block_q4_0_ref, legacy_simd::quantize_q4_0_blocks,
                            weighted_block_q4_0<true>);
}
size_t quantize_q4_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                         const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ4_0,
                            quantize_block_q4_0_ref, nullptr, weighted_block_q4_0<false>);
}
void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  legacy_simd::dequantize_q4_0_blocks(static_cast<const uint8_t*>(src), dst, n / kBlock);
}
bool validate_q4_0(const void* data, size_t nbytes) {
  return halves_finite(data, nbytes, kBytesQ4_0, 0, 0);
}

// Q4_1 --------------------------------------------------------------------------
size_t quantize_q4_1(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ4_1,
                            quantize_block_q4_1_ref, legacy_simd::quantize_q4_1_blocks,
                            weighted_block_q4_1<true>);
}
size_t quantize_q4_1_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                         const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ4_1,
                            quantize_block_q4_1_ref, nullptr, weighted_block_q4_1<false>);
}
void dequantize_q4_1(const void* src, float* dst, int64_t n) {
  legacy_simd::dequantize_q4_1_blocks(static_cast<const uint8_t*>(src), dst, n / kBlock);
}
bool validate_q4_1(const void* data, size_t nbytes) {
  return halves_finite(data, nbytes, kBytesQ4_1, 0, 2);
}

// Q5_0 --------------------------------------------------------------------------
size_t quantize_q5_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ5_0,
                            quantize_block_q5_0_ref, legacy_simd::quantize_q5_0_blocks,
                            weighted_block_q5_0<true>);
}
size_t quantize_q5_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                         const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ5_0,
                            quantize_block_q5_0_ref, nullptr, weighted_block_q5_0<false>);
}
void dequantize_q5_0(const void* src, float* dst, int64_t n) {
  legacy_simd::dequantize_q5_0_blocks(static_cast<const uint8_t*>(src), dst, n / kBlock);
}
bool validate_q5_0(const void* data, size_t nbytes) {
  return halves_finite(data, nbytes, kBytesQ5_0, 0, 0);
}

// Q5_1 --------------------------------------------------------------------------
size_t quantize_q5_1(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ5_1,
                            quantize_block_q5_1_ref, legacy_simd::quantize_q5_1_blocks,
                            weighted_block_q5_1<true>);
}
size_t quantize_q5_1_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                         const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, imatrix, kBytesQ5_1,
                            quantize_block_q5_1_ref, nullptr, weighted_block_q5_1<false>);
}
void dequantize_q5_1(const void* src, float* dst, int64_t n) {
  legacy_simd::dequantize_q5_1_blocks(static_cast<const uint8_t*>(src), dst, n / kBlock);
}
bool validate_q5_1(const void* data, size_t nbytes) {
  return halves_finite(data, nbytes, kBytesQ5_1, 0, 2);
}

// Q8_0 (ggml ignores importance weights for it) ---------------------------------
size_t quantize_q8_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, nullptr, kBytesQ8_0,
                            quantize_block_q8_0_ref, legacy_simd::quantize_q8_0_blocks, nullptr);
}
size_t quantize_q8_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                         const float* imatrix) {
  return quantize_rows_impl(src, dst, nrows, n_per_row, nullptr, kBytesQ8_0,
                            quantize_block_q8_0_ref, nullptr, nullptr);
}
void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  legacy_simd::dequantize_q8_0_blocks(static_cast<const uint8_t*>(src), dst, n / kBlock);
}
bool validate_q8_0(const void* data, size_t nbytes) {
  return halves_finite(data, nbytes, kBytesQ8_0, 0, 0);
}

}  // namespace apex::quant
