#include "engine/quant_dot.h"

#include <cstring>

#include "quant/fp16.h"
#include "quant/iq4_internal.h"

namespace apex::engine {
namespace {

constexpr int kQK = 256;  // K-quant super-block

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
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins
  uint8_t qs[kQK / 2];
};
struct Q6_K {
  uint8_t ql[kQK / 2];  // low 4 bits
  uint8_t qh[kQK / 4];  // high 2 bits
  int8_t scales[kQK / 16];
  uint16_t d;
};
struct Q2_K {
  uint8_t scales[kQK / 16];  // low nibble scale, high nibble min, per 16 values
  uint8_t qs[kQK / 4];
  uint16_t d, dmin;
};
struct Q3_K {
  uint8_t hmask[kQK / 8];  // high bit (clear: minus 4)
  uint8_t qs[kQK / 4];     // low 2 bits
  uint8_t scales[12];      // 16 six-bit scales, offset 32
  uint16_t d;
};
struct Q5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK / 8];  // fifth bit
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(Q2_K) == 84 && sizeof(Q3_K) == 110 && sizeof(Q5_K) == 176);
static_assert(sizeof(Q8_0) == 34 && sizeof(Q8_K) == 292 && sizeof(Q4_K) == 144 &&
              sizeof(Q6_K) == 210);

inline float h2f(uint16_t h) { return quant::fp16_to_fp32(h); }

// Scale and min of sub-block j (0..7) of a Q4_K block: the first four pairs
// are the low six bits of bytes 0..7, the last four take four bits from
// bytes 8..11 and their top two bits from the high bits of bytes 0..7.
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

float dot_q8_0_q8_0(const uint8_t* w, const uint8_t* a, int64_t n) {
  const auto* x = reinterpret_cast<const Q8_0*>(w);
  const auto* y = reinterpret_cast<const Q8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(sumi) * (h2f(x[b].d) * h2f(y[b].d));
  }
  return sum;
}

// ggml keeps eight float partial sums (element index mod 8) across blocks
// and adds them at the end; the per-lane integer sums are exact, so only that
// float order matters.
float dot_q4_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  const auto* x = reinterpret_cast<const Q4_K*>(w);
  const auto* y = reinterpret_cast<const Q8_K*>(a);
  float sums[8] = {};
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t lanes[8] = {};
    int min_sum = 0;
    for (int sub = 0; sub < 8; ++sub) {
      int scale, min;
      q4k_scale_min(x[b].scales, sub, scale, min);
      min_sum += (y[b].bsums[2 * sub] + y[b].bsums[2 * sub + 1]) * min;
      // Sub-blocks 2c and 2c+1 are the low and high nibbles of bytes 32c..32c+31.
      const uint8_t* q = x[b].qs + 32 * (sub / 2);
      const int shift = (sub % 2) * 4;
      const int8_t* q8 = y[b].qs + 32 * sub;
      for (int l = 0; l < 32; ++l) lanes[l % 8] += scale * (q8[l] * ((q[l] >> shift) & 0xF));
    }
    const float d = h2f(x[b].d) * y[b].d;
    for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(lanes[l]);
    const float dmin = h2f(x[b].dmin) * y[b].d;
    sum -= dmin * static_cast<float>(min_sum);
  }
  for (int l = 0; l < 8; ++l) sum += sums[l];
  return sum;
}

float dot_q6_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  const auto* x = reinterpret_cast<const Q6_K*>(w);
  const auto* y = reinterpret_cast<const Q8_K*>(a);
  float sums[8] = {};
  for (int64_t b = 0; b < n / kQK; ++b) {
    int8_t q[kQK];
    // Each half (128 values) takes 64 low-nibble bytes and 32 high-bit bytes.
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[b].ql + 64 * half;
      const uint8_t* qh = x[b].qh + 32 * half;
      int8_t* o = q + 128 * half;
      for (int l = 0; l < 32; ++l) {
        o[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int32_t lanes[8] = {};
    for (int sub = 0; sub < 16; ++sub) {
      const int scale = x[b].scales[sub];
      const int8_t* q8 = y[b].qs + 16 * sub;
      const int8_t* qq = q + 16 * sub;
      for (int l = 0; l < 16; ++l) lanes[l % 8] += scale * (q8[l] * qq[l]);
    }
    const float d = h2f(x[b].d) * y[b].d;
    for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(lanes[l]);
  }
  float sum = 0.0f;
  for (int l = 0; l < 8; ++l) sum += sums[l];
  return sum;
}

// As Q4_K with a fifth bit per value (qh bit j of byte l for value l of
// sub-block j).
float dot_q5_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  const auto* x = reinterpret_cast<const Q5_K*>(w);
  const auto* y = reinterpret_cast<const Q8_K*>(a);
  float sums[8] = {};
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t lanes[8] = {};
    int min_sum = 0;
    for (int sub = 0; sub < 8; ++sub) {
      int scale, min;
      q4k_scale_min(x[b].scales, sub, scale, min);
      min_sum += (y[b].bsums[2 * sub] + y[b].bsums[2 * sub + 1]) * min;
      const uint8_t* q = x[b].qs + 32 * (sub / 2);
      const int shift = (sub % 2) * 4;
      const int8_t* q8 = y[b].qs + 32 * sub;
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 0xF) | (((x[b].qh[l] >> sub) & 1) << 4);
        lanes[l % 8] += scale * (q8[l] * v);
      }
    }
    const float d = h2f(x[b].d) * y[b].d;
    for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(lanes[l]);
    const float dmin = h2f(x[b].dmin) * y[b].d;
    sum -= dmin * static_cast<float>(min_sum);
  }
  for (int l = 0; l < 8; ++l) sum += sums[l];
  return sum;
}

// Value 128h + 32k + l: bits 2k..2k+1 of qs[32h + l], minus 4 unless bit
// 4h + k of hmask[l] is set; scale j (per 16 values) is six bits, low four
// from byte j (j < 8) or the high nibble of byte j - 8, high two from byte
// 8 + j % 4 at bit 2 * (j / 4).
float dot_q3_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  const auto* x = reinterpret_cast<const Q3_K*>(w);
  const auto* y = reinterpret_cast<const Q8_K*>(a);
  float sums[8] = {};
  for (int64_t b = 0; b < n / kQK; ++b) {
    const uint8_t* s = x[b].scales;
    int32_t lanes[8] = {};
    for (int i = 0; i < kQK; ++i) {
      const int h = i / 128, k = (i / 32) % 4, l = i % 32, j = i / 16;
      int v = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
      if (!((x[b].hmask[l] >> (4 * h + k)) & 1)) v -= 4;
      const int low = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
      const int scale = (low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      lanes[i % 8] += scale * (y[b].qs[i] * v);
    }
    const float d = h2f(x[b].d) * y[b].d;
    for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(lanes[l]);
  }
  float sum = 0.0f;
  for (int l = 0; l < 8; ++l) sum += sums[l];
  return sum;
}

// ggml's Q2_K kernel keeps one integer sum per block (no lanes).
float dot_q2_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  const auto* x = reinterpret_cast<const Q2_K*>(w);
  const auto* y = reinterpret_cast<const Q8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int summs = 0, isum = 0;
    for (int j = 0; j < 16; ++j) summs += y[b].bsums[j] * (x[b].scales[j] >> 4);
    for (int i = 0; i < kQK; ++i) {
      const int h = i / 128, k = (i / 32) % 4, l = i % 32;
      const int v = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
      isum += (x[b].scales[i / 16] & 0xF) * (y[b].qs[i] * v);
    }
    const float dall = y[b].d * h2f(x[b].d);
    const float dmin = y[b].d * h2f(x[b].dmin);
    sum += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
  }
  return sum;
}

// A float sum per sub-block of 32 (scale ls - 32 applied in float).
float dot_iq4_xs_q8_k(const uint8_t* w, const uint8_t* a, int64_t n) {
  const auto* x = reinterpret_cast<const quant::iq4::BlockXS*>(w);
  const auto* y = reinterpret_cast<const Q8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float d4d8 = h2f(x[b].d) * y[b].d;
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = ((x[b].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) |
                     (((x[b].scales_h >> (2 * ib)) & 3) << 4);
      const uint8_t* qs = x[b].qs + 16 * ib;
      const int8_t* q8 = y[b].qs + 32 * ib;
      int isum = 0;
      for (int j = 0; j < 16; ++j) {
        isum += q8[j] * quant::iq4::kLevels[qs[j] & 0xF] + q8[j + 16] * quant::iq4::kLevels[qs[j] >> 4];
      }
      const float d1 = d4d8 * static_cast<float>(ls - 32);
      sum += d1 * static_cast<float>(isum);
    }
  }
  return sum;
}

}  // namespace apex::engine
