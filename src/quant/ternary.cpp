#include "quant/ternary.h"

#include <cmath>
#include <algorithm>
#include <cstring>

#include "quant/fp16.h"

namespace apex::quant {
namespace {

constexpr int kSuper = 256;

struct BlockTQ2 {
  uint8_t qs[kSuper / 4];  // 2-bit codes 0, 1, 2 for -1, 0, +1
  uint16_t d;              // the scale comes last in this format
};
static_assert(sizeof(BlockTQ2) == 66);

}  // namespace

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
    float amax = 0.0f;
    for (int j = 0; j < kSuper; ++j) amax = std::max(amax, std::fabs(x[j]));
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

size_t quantize_tq2_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  return quantize_tq2_0_ref(src, dst, nrows, n_per_row, imatrix);
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
