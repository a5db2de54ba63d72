#include "quant/ternary.h"

#include <cmath>
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "quant/fp16.h"
#include "quant/ternary_simd.h"

namespace apex::quant {
namespace {

constexpr int kSuper = 256;

struct BlockTQ2 {
  uint8_t qs[kSuper / 4];  // 2-bit codes 0, 1, 2 for -1, 0, +1
  uint16_t d;              // the scale comes last in this format
};
static_assert(sizeof(BlockTQ2) == 66);

// 5 trits per byte for the first 240 values, 4 per byte for the last 16.
constexpr int kQs1 = (kSuper - 4 * kSuper / 64) / 5;  // 48
constexpr int kQh1 = kSuper / 64;                     // 4
struct BlockTQ1 {
  uint8_t qs[kQs1];
  uint8_t qh[kQh1];
  uint16_t d;
};
static_assert(sizeof(BlockTQ1) == 54);

// The ternary code (0, 1, 2 for -1, 0, +1) of x / amax. lroundf rounds half
// away from zero as ggml's reference does; the long -> int narrowing and the
// +1 mirror its types so that degenerate inputs (NaN from 0 * inf when amax
// is subnormal) come out as the same bits.
int trit_of(float x, float id) { return static_cast<int>(std::lround(x * id)) + 1; }

// Packs `count` trits of values x[0], x[stride], ... as base-3 digits, first
// value most significant, padded with zero digits up to five. The 0..242
// number is then stored as ceil(v * 256 / 243): that turns "extract digit n"
// into multiplying the byte by 3^n (mod 256) and taking the top bits of
// byte * 3, which is how decoders read it without a division. Arithmetic
// wraps in 8 bits at every step, as ggml's uint8_t accumulator does.
uint8_t pack_trits(const float* x, int stride, int count, float id) {
  uint8_t v = 0;
  for (int n = 0; n < count; ++n) v = static_cast<uint8_t>(v * 3 + trit_of(x[n * stride], id));
  for (int n = count; n < 5; ++n) v = static_cast<uint8_t>(v * 3);
  return static_cast<uint8_t>((static_cast<uint16_t>(v) * 256 + 242) / 243);
}

// Digit n (0 = most significant) of a byte written by pack_trits.
int unpack_trit(uint8_t byte, int n) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = static_cast<uint8_t>(byte * kPow3[n]);
  return (static_cast<uint16_t>(shifted) * 3) >> 8;
}

// ggml's running MAX(amax, |x|) = amax > |x| ? amax : |x|: a NaN value
// becomes the running maximum until the next comparison replaces it (so
// only a NaN in the last place survives). std::max would skip NaN instead.
float block_abs_max(const float* x) {
  float amax = 0.0f;
  for (int j = 0; j < kSuper; ++j) {
    const float a = std::fabs(x[j]);
    amax = amax > a ? amax : a;
  }
  return amax;
}

bool scales_finite(const uint8_t* data, size_t nbytes, size_t block_bytes, size_t d_offset) {
  for (size_t off = 0; off + block_bytes <= nbytes; off += block_bytes) {
    uint16_t d;
    std::memcpy(&d, data + off + d_offset, 2);
    if ((d & 0x7c00) == 0x7c00) return false;  // inf or NaN scale
  }
  return true;
}

}  // namespace

// Same scale and rounding as TQ2_0. Values are laid out in three runs:
// 0..159 in 32 bytes (byte m holds m, m+32, ..., m+128), 160..239 in 16 bytes
// (byte m holds 160+m, 176+m, ..., 224+m), 240..255 in qh (byte m holds 240+m,
// 244+m, 248+m, 252+m).
size_t quantize_tq1_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kSuper;
  auto* out = static_cast<BlockTQ1*>(dst);
  for (int64_t i = 0; i < nb; ++i) {
    const float* x = src + i * kSuper;
    const float amax = block_abs_max(x);
    const float id = amax ? 1.0f / amax : 0.0f;
    out[i].d = fp32_to_fp16(amax);
    for (int m = 0; m < 32; ++m) out[i].qs[m] = pack_trits(x + m, 32, 5, id);
    for (int m = 0; m < 16; ++m) out[i].qs[32 + m] = pack_trits(x + 160 + m, 16, 5, id);
    for (int m = 0; m < kQh1; ++m) out[i].qh[m] = pack_trits(x + 240 + m, kQh1, 4, id);
  }
  return static_cast<size_t>(nb) * sizeof(BlockTQ1);
}

size_t quantize_tq1_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kSuper;
  ternary_simd::quantize_tq1_0_blocks(src, static_cast<uint8_t*>(dst), nb);
  return static_cast<size_t>(nb) * sizeof(BlockTQ1);
}

void dequantize_tq1_0(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockTQ1*>(src);
  for (int64_t i = 0; i < n / kSuper; ++i) {
    const float d = fp16_to_fp32(in[i].d);
    float* y = dst + i * kSuper;
    for (int m = 0; m < 32; ++m) {
      for (int k = 0; k < 5; ++k) y[m + 32 * k] = static_cast<float>(unpack_trit(in[i].qs[m], k) - 1) * d;
    }
    for (int m = 0; m < 16; ++m) {
      for (int k = 0; k < 5; ++k) y[160 + m + 16 * k] = static_cast<float>(unpack_trit(in[i].qs[32 + m], k) - 1) * d;
    }
    for (int m = 0; m < kQh1; ++m) {
      for (int k = 0; k < 4; ++k) y[240 + m + kQh1 * k] = static_cast<float>(unpack_trit(in[i].qh[m], k) - 1) * d;
    }
  }
}

bool validate_tq1_0(const void* data, size_t nbytes) {
  return scales_finite(static_cast<const uint8_t*>(data), nbytes, sizeof(BlockTQ1), offsetof(BlockTQ1, d));
}

// The scale is the block's largest magnitude, so every value rounds to -1, 0
// or +1. Codes are interleaved in groups of 128 values: byte m of a 32-byte
// group holds values m, m+32, m+64, m+96 in bit pairs 0-1, 2-3, 4-5, 6-7.
// Rounding is half away from zero (lroundf), as ggml's reference does. The
// format takes no importance weights.
size_t quantize_tq2_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kSuper;
  auto* out = static_cast<BlockTQ2*>(dst);
  for (int64_t i = 0; i < nb; ++i) {
    const float* x = src + i * kSuper;
    const float amax = block_abs_max(x);
    const float id = amax ? 1.0f / amax : 0.0f;
    out[i].d = fp32_to_fp16(amax);
    for (int group = 0; group < kSuper / 128; ++group) {
      const float* xg = x + group * 128;
      for (int m = 0; m < 32; ++m) {
        uint8_t q = 0;
        for (int n = 0; n < 4; ++n) {
          const int code = static_cast<int>(std::lround(xg[m + n * 32] * id)) + 1;
          q = static_cast<uint8_t>(q + ((code & 3) << (2 * n)));
        }
        out[i].qs[group * 32 + m] = q;
      }
    }
  }
  return static_cast<size_t>(nb) * sizeof(BlockTQ2);
}

size_t quantize_tq2_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kSuper;
  ternary_simd::quantize_tq2_0_blocks(src, static_cast<uint8_t*>(dst), nb);
  return static_cast<size_t>(nb) * sizeof(BlockTQ2);
}

void dequantize_tq2_0(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockTQ2*>(src);
  for (int64_t i = 0; i < n / kSuper; ++i) {
    const float d = fp16_to_fp32(in[i].d);
    for (int group = 0; group < kSuper / 128; ++group) {
      for (int l = 0; l < 4; ++l) {
        for (int m = 0; m < 32; ++m) {
          const int q = (in[i].qs[group * 32 + m] >> (2 * l)) & 3;
          *dst++ = static_cast<float>(q - 1) * d;
        }
      }
    }
  }
}

bool validate_tq2_0(const void* data, size_t nbytes) {
  const auto* in = static_cast<const BlockTQ2*>(data);
  for (size_t i = 0; i < nbytes / sizeof(BlockTQ2); ++i) {
    if ((in[i].d & 0x7c00) == 0x7c00) return false;  // inf or NaN scale
  }
  return true;
}

}  // namespace apex::quant
