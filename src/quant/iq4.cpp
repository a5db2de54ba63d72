#include "quant/iq4.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/iq4_internal.h"
#include "quant/rounding.h"

namespace apex::quant {
namespace {

using namespace iq4;  // levels, layouts, nearest_level

// Quantizes one super-block (32 values for NL, 256 for XS) the way ggml's
// shared IQ4 routine does: per 32-value block, start from the scale that maps
// the largest magnitude onto the extreme level, then try 15 nearby scales
// and keep the one with the best weighted least-squares fit. With several
// blocks, the block scales are then quantized to 6 bits against one
// super-scale and the indices recomputed with the rounded scales.
//   out_d: fp16 super-scale; q4: packed indices; scales_h/l: XS only.
void quantize_super_block(const int n, const float* x, const float* importance, uint16_t* out_d, uint8_t* q4,
                          uint16_t* scales_h, uint8_t* scales_l) {
  const int n_blocks = n / kBlock;
  float scales[kSuper / kBlock];
  float weight[kBlock];
  uint8_t L[kSuper];

  float sigma2 = 0;
  for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / n;

  std::memset(q4, 0, n / 2);
  *out_d = fp32_to_fp16(0.f);

  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < n_blocks; ++ib) {
    const float* xb = x + ib * kBlock;
    uint8_t* Lb = L + ib * kBlock;
    // Importance: the imatrix scaled by the value's own magnitude relative to
    // the super-block's spread, or the squared value without an imatrix.
    if (importance != nullptr) {
      const float* qw = importance + ib * kBlock;
      for (int j = 0; j < kBlock; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    } else {
      for (int j = 0; j < kBlock; ++j) weight[j] = xb[j] * xb[j];
    }
    float amax = 0, max = 0;
    for (int j = 0; j < kBlock; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax < kTinyGroup) {
      scales[ib] = 0;
      continue;
    }
    // Start: the signed extreme maps onto the most negative level (-127).
    float d = -max / kLevels[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < kBlock; ++j) {
      const int l = nearest_level(id * xb[j]);
      Lb[j] = static_cast<uint8_t>(l);
      const float q = kLevels[l];
      const float w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    // Candidates map the extreme onto -127 + t for t in [-7, 7]; the indices
    // chosen here are not kept (they are recomputed from the final scale).
    for (int t = -kTries; t <= kTries; ++t) {
      id = (t + kLevels[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < kBlock; ++j) {
        const float q = kLevels[nearest_level(id * xb[j])];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    const float abs_d = std::fabs(d);
    if (abs_d > amax_scale) {
      amax_scale = abs_d;
      max_scale = d;
    }
  }

  if (n_blocks > 1) {
    // IQ4_XS: 6-bit block scales l in [-32, 31] times one super-scale chosen
    // so the largest block scale maps to -32.
    std::memset(scales_h, 0, ((n_blocks + 7) / 8) * sizeof(uint16_t));
    const float d = -max_scale / 32;
    *out_d = fp32_to_fp16(d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < n_blocks; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = l < -32 ? -32 : (l > 31 ? 31 : l);
      const float dl = d * l;
      const float idl = dl ? 1 / dl : 0.f;
      uint8_t* Lb = L + ib * kBlock;
      const float* xb = x + ib * kBlock;
      for (int j = 0; j < kBlock; ++j) Lb[j] = static_cast<uint8_t>(nearest_level(idl * xb[j]));
      l += 32;
      const uint8_t low = l & 0xf, high = static_cast<uint8_t>(l >> 4);
      if (ib % 2 == 0) {
        scales_l[ib / 2] = low;
      } else {
        scales_l[ib / 2] |= static_cast<uint8_t>(low << 4);
      }
      scales_h[ib / 8] = static_cast<uint16_t>(scales_h[ib / 8] | (high << 2 * (ib % 8)));
    }
  } else {
    // IQ4_NL: the block scale is stored as is; indices are recomputed with it.
    *out_d = fp32_to_fp16(scales[0]);
    const float id = scales[0] ? 1 / scales[0] : 0;
    for (int j = 0; j < n; ++j) L[j] = static_cast<uint8_t>(nearest_level(id * x[j]));
  }

  // Each 32-value block packs value j (low nibble) with value j + 16 (high).
  for (int i = 0; i < n / kBlock; ++i) {
    for (int j = 0; j < 16; ++j) q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
  }
}

bool scales_finite(const uint8_t* data, size_t nbytes, size_t block_bytes) {
  for (size_t off = 0; off + block_bytes <= nbytes; off += block_bytes) {
    uint16_t d;
    std::memcpy(&d, data + off, 2);
    if ((d & 0x7c00) == 0x7c00) return false;  // inf or NaN
  }
  return true;
}

}  // namespace

namespace iq4 {
namespace {

// Floats in increasing order as unsigned integers (negatives reversed), so
// that a bisection over floats is a bisection over integers.
uint32_t order_key(float f) {
  const uint32_t b = std::bit_cast<uint32_t>(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
float from_order_key(uint32_t k) {
  return std::bit_cast<float>((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

}  // namespace

const float* level_thresholds() {
  static const auto table = [] {
    std::array<float, 16> t{};
    for (int k = 1; k < 16; ++k) {
      // nearest_level(kLevels[k - 1]) == k - 1 and nearest_level(kLevels[k]) == k:
      // the smallest float reaching k lies in between.
      uint32_t lo = order_key(kLevels[k - 1]), hi = order_key(kLevels[k]);
      while (hi - lo > 1) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (nearest_level(from_order_key(mid)) >= k) hi = mid; else lo = mid;
      }
      t[k] = from_order_key(hi);
    }
    return t;
  }();
  return table.data();
}

}  // namespace iq4

size_t quantize_iq4_nl_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const int64_t nb = n_per_row / kBlock;
  auto* out = static_cast<BlockNL*>(dst);
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockNL& blk = out[r * nb + b];
      quantize_super_block(kBlock, src + r * n_per_row + b * kBlock, imatrix ? imatrix + b * kBlock : nullptr,
                           &blk.d, blk.qs, nullptr, nullptr);
    }
  }
  return static_cast<size_t>(nrows * nb) * sizeof(BlockNL);
}

size_t quantize_iq4_nl(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  iq4::quantize_nl_rows(src, static_cast<BlockNL*>(dst), nrows, n_per_row, imatrix);
  return static_cast<size_t>(nrows * (n_per_row / kBlock)) * sizeof(BlockNL);
}

size_t quantize_iq4_xs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  const int64_t nb = n_per_row / kSuper;
  auto* out = static_cast<BlockXS*>(dst);
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockXS& blk = out[r * nb + b];
      quantize_super_block(kSuper, src + r * n_per_row + b * kSuper, imatrix ? imatrix + b * kSuper : nullptr,
                           &blk.d, blk.qs, &blk.scales_h, blk.scales_l);
    }
  }
  return static_cast<size_t>(nrows * nb) * sizeof(BlockXS);
}

size_t quantize_iq4_xs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  iq4::quantize_xs_rows(src, static_cast<BlockXS*>(dst), nrows, n_per_row, imatrix);
  return static_cast<size_t>(nrows * (n_per_row / kSuper)) * sizeof(BlockXS);
}

void dequantize_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockNL*>(src);
  for (int64_t b = 0; b < n / kBlock; ++b) {
    const float d = fp16_to_fp32(in[b].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * kLevels[in[b].qs[j] & 0xf];
      dst[j + 16] = d * kLevels[in[b].qs[j] >> 4];
    }
    dst += kBlock;
  }
}

void dequantize_iq4_xs(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const BlockXS*>(src);
  for (int64_t b = 0; b < n / kSuper; ++b) {
    const float d = fp16_to_fp32(in[b].d);
    const uint8_t* qs = in[b].qs;
    for (int ib = 0; ib < kSuper / kBlock; ++ib) {
      const int ls = ((in[b].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((in[b].scales_h >> 2 * ib) & 3) << 4);
      const float dl = d * (ls - 32);
      for (int j = 0; j < 16; ++j) {
        dst[j] = dl * kLevels[qs[j] & 0xf];
        dst[j + 16] = dl * kLevels[qs[j] >> 4];
      }
      dst += kBlock;
      qs += 16;
    }
  }
}

bool validate_iq4_nl(const void* data, size_t nbytes) {
  return scales_finite(static_cast<const uint8_t*>(data), nbytes, sizeof(BlockNL));
}
bool validate_iq4_xs(const void* data, size_t nbytes) {
  return scales_finite(static_cast<const uint8_t*>(data), nbytes, sizeof(BlockXS));
}

}  // namespace apex::quant
