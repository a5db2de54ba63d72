// Byte layouts (ggml-common.h):
//   MXFP4  e (E8M0 exponent byte), qs[16]
//   NVFP4  d[4] (UE4M3 scale per 16 values), qs[32]
// In each 32-value (MXFP4) or 16-value (NVFP4) group, byte j of qs holds
// value j in its low nibble and value j + group/2 in its high nibble.
//
// ggml stores the E2M1 levels doubled, as the integers of kLevels, and halves
// every scale to compensate; we keep that convention because the float
// products level * scale must round exactly as the oracle's do.
#include "quant/fp4.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "quant/fp4_simd.h"

namespace apex::quant {
namespace {

// Twice the E2M1 values, indexed by the 4-bit code (bit 3 is the sign); fixed
// by the format (kvalues_mxfp4 in ggml-common.h).
constexpr int8_t kLevels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

constexpr int kMxBlock = 32;
constexpr int kNvBlock = 64;
constexpr int kNvGroup = 16;
constexpr int kNvGroups = kNvBlock / kNvGroup;

struct BlockMX {
  uint8_t e;
  uint8_t qs[kMxBlock / 2];
};
struct BlockNV {
  uint8_t d[kNvGroups];
  uint8_t qs[kNvBlock / 2];
};
static_assert(sizeof(BlockMX) == 17 && sizeof(BlockNV) == 36);

// 2^(e - 128): half the E8M0 value 2^(e - 127), to pair with the doubled
// levels. e = 0 and 1 land below FLT_MIN and are written as subnormals.
float e8m0_half(uint8_t e) {
  if (e < 2) return std::bit_cast<float>(0x00200000u << e);
  return std::bit_cast<float>(static_cast<uint32_t>(e - 1) << 23);
}

// Half the UE4M3 value of `b`. ggml reads only the low 7 bits (bit 7, a sign
// bit in signed E4M3, is ignored) and treats exactly 0x7F (E4M3's NaN) as 0.
float ue4m3_half(uint8_t b) {
  if (b == 0 || b == 0x7F) return 0.0f;
  const int exp = (b >> 3) & 0xF;
  const int man = b & 0x7;
  // Normal: (8 + man) / 8 * 2^(exp - 7); subnormal: man * 2^-9. Both exact.
  const float v = exp == 0 ? std::ldexp(static_cast<float>(man), -9)
                           : std::ldexp(static_cast<float>(8 + man), exp - 10);
  return v * 0.5f;
}

// Float to UE4M3 the way ggml encodes NVFP4 scales: the mantissa is cut to 3
// bits and rounded half up by the next bit (not to even); values from 256 up
// saturate to 0x7E (448), below 2^-6 they become subnormal steps of 2^-9.
uint8_t to_ue4m3(float x) {
  if (!(x > 0.0f)) return 0;  // zero, negative and NaN
  if (x > 448.0f) x = 448.0f;
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  int exp = static_cast<int>((bits >> 23) & 0xFF) - 127 + 7;
  if (exp <= 0) {
    int steps = static_cast<int>(x * 512.0f + 0.5f);  // x < 2^-6: fits easily
    if (steps > 7) steps = 7;
    return steps < 1 ? 0 : static_cast<uint8_t>(steps);
  }
  if (exp >= 15) return 0x7E;
  int man = static_cast<int>((bits >> 20) & 0x7) + static_cast<int>((bits >> 19) & 1);
  if (man > 7) {  // rounding carried into the exponent
    man = 0;
    if (++exp >= 15) return 0x7E;
  }
  return static_cast<uint8_t>((exp << 3) | man);
}

// The code whose level * scale is closest to x; on equal error the lower
// code wins (so +0 beats -0, and NaN inputs get code 0).
uint8_t nearest_code(float x, float scale) {
  uint8_t best = 0;
  float best_err = std::fabs(kLevels[0] * scale - x);
  for (uint8_t c = 1; c < 16; ++c) {
    const float err = std::fabs(kLevels[c] * scale - x);
    if (err < best_err) {
      best = c;
      best_err = err;
    }
  }
  return best;
}

// Codes for `n` values at `x` with one scale, packed low/high nibble halves.
void encode_group(const float* x, int n, float scale, uint8_t* qs) {
  for (int j = 0; j < n / 2; ++j) {
    qs[j] = static_cast<uint8_t>(nearest_code(x[j], scale) | (nearest_code(x[j + n / 2], scale) << 4));
  }
}

void decode_group(const uint8_t* qs, int n, float scale, float* y) {
  for (int j = 0; j < n / 2; ++j) {
    y[j] = kLevels[qs[j] & 0x0F] * scale;
    y[j + n / 2] = kLevels[qs[j] >> 4] * scale;
  }
}

float abs_max(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
  }
  return amax;
}

// The low byte of a float truncated to a 32-bit integer, as the x86-64 oracle
// computes ggml's (uint8_t) cast: out-of-range values (negative exponents of
// subnormal blocks) wrap, and NaN/infinity give INT32_MIN, whose low byte is 0.
uint8_t low_byte_of_trunc(float v) {
  if (!(std::fabs(v) < 2147483648.0f)) return 0;
  return static_cast<uint8_t>(static_cast<int32_t>(v));
}

}  // namespace

namespace fp4_detail {
uint8_t mxfp4_exponent(float amax) {
  return amax > 0.0f ? low_byte_of_trunc(std::floor(std::log2(amax)) - 2 + 127) : 0;
}
float mxfp4_half_scale(uint8_t e) { return e8m0_half(e); }
uint8_t nvfp4_scale_code(float amax) { return to_ue4m3(amax / 6.0f); }
float nvfp4_half_scale(uint8_t code) { return ue4m3_half(code); }
}  // namespace fp4_detail

// With amax in [2^k, 2^(k+1)) the shared exponent is 2^(k-2), so amax / scale
// lies in [4, 8): the largest value lands on E2M1's top codes (4 or 6) and
// anything above 6 saturates there instead of overflowing.
size_t quantize_mxfp4_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kMxBlock;
  auto* out = static_cast<BlockMX*>(dst);
  for (int64_t i = 0; i < nb; ++i) {
    const float* x = src + i * kMxBlock;
    const float amax = abs_max(x, kMxBlock);
    const uint8_t e = fp4_detail::mxfp4_exponent(amax);
    out[i].e = e;
    encode_group(x, kMxBlock, e8m0_half(e), out[i].qs);
  }
  return static_cast<size_t>(nb) * sizeof(BlockMX);
}

size_t quantize_mxfp4(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kMxBlock;
  fp4_simd::quantize_mxfp4_blocks(src, static_cast<uint8_t*>(dst), nb);
  return static_cast<size_t>(nb) * sizeof(BlockMX);
}

// Each 16-value group gets the scale amax / 6 (so amax maps onto E2M1's
// largest value), rounded to UE4M3; codes are chosen against the rounded scale.
size_t quantize_nvfp4_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kNvBlock;
  auto* out = static_cast<BlockNV*>(dst);
  for (int64_t i = 0; i < nb; ++i) {
    for (int s = 0; s < kNvGroups; ++s) {
      const float* x = src + i * kNvBlock + s * kNvGroup;
      const uint8_t code = fp4_detail::nvfp4_scale_code(abs_max(x, kNvGroup));
      out[i].d[s] = code;
      encode_group(x, kNvGroup, ue4m3_half(code), out[i].qs + s * (kNvGroup / 2));
    }
  }
  return static_cast<size_t>(nb) * sizeof(BlockNV);
}

size_t quantize_nvfp4(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kNvBlock;
  fp4_simd::quantize_nvfp4_blocks(src, static_cast<uint8_t*>(dst), nb);
  return static_cast<size_t>(nb) * sizeof(BlockNV);
}

void dequantize_mxfp4(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockMX*>(src);
  for (int64_t i = 0; i < n / kMxBlock; ++i) {
    decode_group(in[i].qs, kMxBlock, e8m0_half(in[i].e), dst + i * kMxBlock);
  }
}

void dequantize_nvfp4(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockNV*>(src);
  for (int64_t i = 0; i < n / kNvBlock; ++i) {
    for (int s = 0; s < kNvGroups; ++s) {
      decode_group(in[i].qs + s * (kNvGroup / 2), kNvGroup, ue4m3_half(in[i].d[s]),
                   dst + i * kNvBlock + s * kNvGroup);
    }
  }
}

// E8M0 reserves 0xFF for NaN; ggml rejects blocks carrying it.
bool validate_mxfp4(const void* data, size_t nbytes) {
  const auto* in = static_cast<const BlockMX*>(data);
  for (size_t i = 0; i < nbytes / sizeof(BlockMX); ++i) {
    if (in[i].e == 0xFF) return false;
  }
  return true;
}

// ggml accepts every UE4M3 byte (0x7F decodes as zero), so nothing can fail.
bool validate_nvfp4(const void*, size_t) { return true; }

}  // namespace apex::quant
