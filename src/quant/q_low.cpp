// Byte layouts (ggml-common.h): Q1_0 is d, qs[16]; Q2_0 is d, qs[16]. Bits
// are packed little-endian in value order: value j of Q1_0 is bit j % 8 of
// byte j / 8; value j of Q2_0 is bits 2*(j % 4)..+1 of byte j / 4.
#include "quant/q_low.h"

#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/q_low_simd.h"

namespace apex::quant {
namespace {

constexpr int kBlock1 = 128;
constexpr int kBlock2 = 64;

struct BlockQ1 {
  uint16_t d;
  uint8_t qs[kBlock1 / 8];
};
struct BlockQ2 {
  uint16_t d;
  uint8_t qs[kBlock2 / 4];
};
static_assert(sizeof(BlockQ1) == 18 && sizeof(BlockQ2) == 18);

// ggml's (int)roundf(v) as the x86-64 oracle computes it: out-of-range values
// (NaN or infinity from a subnormal block's huge reciprocal) become INT32_MIN.
int rounded_int(float v) {
  const float r = std::round(v);
  if (!(std::fabs(r) < 2147483648.0f)) return INT32_MIN;
  return static_cast<int>(r);
}

template <typename Block>
bool scales_finite(const void* data, size_t nbytes) {
  const auto* in = static_cast<const Block*>(data);
  for (size_t i = 0; i < nbytes / sizeof(Block); ++i) {
    if ((in[i].d & 0x7c00) == 0x7c00) return false;  // inf or NaN scale
  }
  return true;
}

}  // namespace

// Scale = mean |x|, summed in value order (the float sum's rounding depends
// on it). The bit is set for x >= 0, so -0 counts as positive and NaN as
// negative.
size_t quantize_q1_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kBlock1;
  auto* out = static_cast<BlockQ1*>(dst);
  for (int64_t i = 0; i < nb; ++i) {
    const float* x = src + i * kBlock1;
    float sum_abs = 0.0f;
    for (int j = 0; j < kBlock1; ++j) sum_abs += std::fabs(x[j]);
    out[i].d = fp32_to_fp16(sum_abs / kBlock1);
    std::memset(out[i].qs, 0, sizeof out[i].qs);
    for (int j = 0; j < kBlock1; ++j) {
      if (x[j] >= 0.0f) out[i].qs[j / 8] = static_cast<uint8_t>(out[i].qs[j / 8] | (1u << (j % 8)));
    }
  }
  return static_cast<size_t>(nb) * sizeof(BlockQ1);
}

size_t quantize_q1_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kBlock1;
  q_low_simd::quantize_q1_0_blocks(src, static_cast<uint8_t*>(dst), nb);
  return static_cast<size_t>(nb) * sizeof(BlockQ1);
}

// Scale = max |x|, so rounding x / scale only ever yields -1, 0 or +1: code 3
// (+2) is representable but never produced by ggml's quantizer. Rounding is
// half away from zero (roundf).
size_t quantize_q2_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kBlock2;
  auto* out = static_cast<BlockQ2*>(dst);
  for (int64_t i = 0; i < nb; ++i) {
    const float* x = src + i * kBlock2;
    float amax = 0.0f;
    for (int j = 0; j < kBlock2; ++j) {
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]);
    }
    const float id = amax > 0.0f ? 1.0f / amax : 0.0f;
    out[i].d = fp32_to_fp16(amax);
    std::memset(out[i].qs, 0, sizeof out[i].qs);
    for (int j = 0; j < kBlock2; ++j) {
      const int r = rounded_int(x[j] * id);
      // Clamp before adding 1 would overflow for INT32_MIN; compare instead.
      const int code = r < -1 ? 0 : (r > 2 ? 3 : r + 1);
      out[i].qs[j / 4] = static_cast<uint8_t>(out[i].qs[j / 4] | (code << (2 * (j % 4))));
    }
  }
  return static_cast<size_t>(nb) * sizeof(BlockQ2);
}

size_t quantize_q2_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float*) {
  const int64_t nb = nrows * n_per_row / kBlock2;
  q_low_simd::quantize_q2_0_blocks(src, static_cast<uint8_t*>(dst), nb);
  return static_cast<size_t>(nb) * sizeof(BlockQ2);
}

void dequantize_q1_0(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockQ1*>(src);
  for (int64_t i = 0; i < n / kBlock1; ++i) {
    const float d = fp16_to_fp32(in[i].d);
    for (int j = 0; j < kBlock1; ++j) dst[i * kBlock1 + j] = (in[i].qs[j / 8] >> (j % 8)) & 1 ? d : -d;
  }
}

void dequantize_q2_0(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockQ2*>(src);
  for (int64_t i = 0; i < n / kBlock2; ++i) {
    const float d = fp16_to_fp32(in[i].d);
    for (int j = 0; j < kBlock2; ++j) {
      const int code = (in[i].qs[j / 4] >> (2 * (j % 4))) & 3;
      dst[i * kBlock2 + j] = static_cast<float>(code - 1) * d;
    }
  }
}

bool validate_q1_0(const void* data, size_t nbytes) { return scales_finite<BlockQ1>(data, nbytes); }
bool validate_q2_0(const void* data, size_t nbytes) { return scales_finite<BlockQ2>(data, nbytes); }

}  // namespace apex::quant
