#include "engine/packed_rows.h"

#include <algorithm>
#include <cstring>

#include "engine/kernels_simd.h"
#include "quant/fp16.h"
#include "quant/iq4_internal.h"
#include "util/check.h"

namespace apex::engine {
namespace {

using quant::TypeId;
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
struct Q2_K {
  uint8_t scales[kQK / 16];  // low nibble: scale, high nibble: min
  uint8_t qs[kQK / 4];
  uint16_t d, dmin;
};
struct Q3_K {
  uint8_t hmask[kQK / 8];
  uint8_t qs[kQK / 4];
  uint8_t scales[12];  // 16 six-bit scales
  uint16_t d;
};
struct Q4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[kQK / 2];
};
struct Q5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK / 8];
  uint8_t qs[kQK / 2];
};
struct Q6_K {
  uint8_t ql[kQK / 2];
  uint8_t qh[kQK / 4];
  int8_t scales[kQK / 16];
  uint16_t d;
};
static_assert(sizeof(Q2_K) == 84 && sizeof(Q3_K) == 110 && sizeof(Q4_K) == 144 &&
              sizeof(Q5_K) == 176 && sizeof(Q6_K) == 210 && sizeof(Q8_K) == 292);

inline float h2f(uint16_t h) { return quant::fp16_to_fp32(h); }

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block.
inline void k4_scale_min(const uint8_t* s, int j, int& scale, int& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Where a decoded row goes: values, per-block scales and (kMin256) mins.
struct RowOut {
  int16_t* q;
  float* d;
  float* dmin;
  int16_t* mins;
};

// Q4_K and Q5_K share scales; Q5_K adds a fifth bit from qh. Sub-blocks 2c
// and 2c+1 are the low and high nibbles of bytes 32c..32c+31.
template <class Block>
void decode_q45_k(const Block* x, int64_t nb, RowOut o) {
  for (int64_t b = 0; b < nb; ++b) {
    int16_t* q = o.q + b * kQK;
    o.d[b] = h2f(x[b].d);
    o.dmin[b] = h2f(x[b].dmin);
    for (int sub = 0; sub < 8; ++sub) {
      int scale, min;
      k4_scale_min(x[b].scales, sub, scale, min);
      o.mins[b * 16 + 2 * sub] = o.mins[b * 16 + 2 * sub + 1] = static_cast<int16_t>(min);
      const uint8_t* qs = x[b].qs + 32 * (sub / 2);
      const int shift = (sub % 2) * 4;
      int16_t* out = q + 32 * sub;
      for (int l = 0; l < 32; ++l) {
        int v = (qs[l] >> shift) & 0xF;
        if constexpr (requires { x[b].qh; }) v |= ((x[b].qh[l] >> sub) & 1) << 4;
        out[l] = static_cast<int16_t>(scale * v);
      }
    }
  }
}

// Value 128h + 32k + l: low four bits from ql, high two from qh, minus 32;
// one signed scale per 16 values.
void decode_q6_k(const Q6_K* x, int64_t nb, RowOut o) {
  for (int64_t b = 0; b < nb; ++b) {
    int16_t* q = o.q + b * kQK;
    o.d[b] = h2f(x[b].d);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[b].ql + 64 * half;
      const uint8_t* qh = x[b].qh + 32 * half;
      int16_t* out = q + 128 * half;
      const int8_t* sc = x[b].scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int s0 = sc[l / 16], s1 = sc[2 + l / 16], s2 = sc[4 + l / 16], s3 = sc[6 + l / 16];
        out[l] = static_cast<int16_t>(s0 * (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32));
        out[l + 32] = static_cast<int16_t>(s1 * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32));
        out[l + 64] = static_cast<int16_t>(s2 * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32));
        out[l + 96] = static_cast<int16_t>(s3 * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32));
      }
    }
  }
}

// Q3_K's 16 six-bit scales: low four bits from bytes 0..7 (two per byte),
// high two bits from bytes 8..11.
void q3_k_scales(const uint8_t* s, int out[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = (low | (high << 4)) - 32;
  }
}

void decode_q3_k(const Q3_K* x, int64_t nb, RowOut o) {
  for (int64_t b = 0; b < nb; ++b) {
    int16_t* q = o.q + b * kQK;
    o.d[b] = h2f(x[b].d);
    int scales[16];
    q3_k_scales(x[b].scales, scales);
    // Element 128h + 32k + l: bits 2k of qs[32h + l], high bit k + 4h of hmask[l]
    // (a clear high bit subtracts 4).
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
          const int i = 128 * h + 32 * k + l;
          int v = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
          if (!(x[b].hmask[l] >> (4 * h + k) & 1)) v -= 4;
          q[i] = static_cast<int16_t>(scales[i / 16] * v);
        }
      }
    }
  }
}

void decode_q2_k(const Q2_K* x, int64_t nb, RowOut o) {
  for (int64_t b = 0; b < nb; ++b) {
    int16_t* q = o.q + b * kQK;
    o.d[b] = h2f(x[b].d);
    o.dmin[b] = h2f(x[b].dmin);
    for (int j = 0; j < 16; ++j) o.mins[b * 16 + j] = static_cast<int16_t>(x[b].scales[j] >> 4);
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
          const int i = 128 * h + 32 * k + l;
          const int v = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
          q[i] = static_cast<int16_t>((x[b].scales[i / 16] & 0xF) * v);
        }
      }
    }
  }
}

// IQ4_XS: non-linear levels times the sub-block scale ls - 32.
void decode_iq4_xs(const quant::iq4::BlockXS* x, int64_t nb, RowOut o) {
  for (int64_t b = 0; b < nb; ++b) {
    int16_t* q = o.q + b * kQK;
    o.d[b] = h2f(x[b].d);
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = ((x[b].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) |
                     (((x[b].scales_h >> (2 * ib)) & 3) << 4);
      const uint8_t* qs = x[b].qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        q[32 * ib + j] = static_cast<int16_t>((ls - 32) * quant::iq4::kLevels[qs[j] & 0xF]);
        q[32 * ib + 16 + j] = static_cast<int16_t>((ls - 32) * quant::iq4::kLevels[qs[j] >> 4]);
      }
    }
  }
}

void decode_q8_0(const Q8_0* x, int64_t nb, RowOut o) {
  for (int64_t b = 0; b < nb; ++b) {
    o.d[b] = h2f(x[b].d);
    for (int i = 0; i < 32; ++i) o.q[b * 32 + i] = x[b].qs[i];
  }
}

}  // namespace

PackedKind packed_kind(TypeId w) {
  switch (w) {
    case TypeId::Q4_K:
    case TypeId::Q5_K: return PackedKind::kLanes8Min;
    case TypeId::Q6_K:
    case TypeId::Q3_K: return PackedKind::kLanes8;
    case TypeId::Q8_0: return PackedKind::kBlock32;
    // Q2_K (one integer sum per block) and IQ4_XS (a float per sub-block of
    // 32) have other float orders in ggml: they keep the row kernels.
    default: return PackedKind::kNone;
  }
}

int64_t packed_block(TypeId w) { return w == TypeId::Q8_0 ? 32 : kQK; }

void decode_weight_row(TypeId w, const uint8_t* row, int64_t n, int16_t* q, float* d, float* dmin,
                       int16_t* mins) {
  const int64_t nb = n / packed_block(w);
  const RowOut o{q, d, dmin, mins};
  switch (w) {
    case TypeId::Q4_K: decode_q45_k(reinterpret_cast<const Q4_K*>(row), nb, o); return;
    case TypeId::Q5_K: decode_q45_k(reinterpret_cast<const Q5_K*>(row), nb, o); return;
    case TypeId::Q6_K: decode_q6_k(reinterpret_cast<const Q6_K*>(row), nb, o); return;
    case TypeId::Q3_K: decode_q3_k(reinterpret_cast<const Q3_K*>(row), nb, o); return;
    case TypeId::Q2_K: decode_q2_k(reinterpret_cast<const Q2_K*>(row), nb, o); return;
    case TypeId::IQ4_XS: decode_iq4_xs(reinterpret_cast<const quant::iq4::BlockXS*>(row), nb, o); return;
    case TypeId::Q8_0: decode_q8_0(reinterpret_cast<const Q8_0*>(row), nb, o); return;
    default: APEX_CHECK(false, "no packed layout for type %d", static_cast<int>(w));
  }
}

namespace {

// The float scales and integer mins of a Q4_K / Q6_K row (what
// decode_weight_row gives besides the values), for the SIMD decoding path.
void decode_block_scales(TypeId w, const uint8_t* row, int64_t nb, float* d, float* dmin,
                         int16_t* mins) {
  if (w == TypeId::Q6_K) {
    const auto* x = reinterpret_cast<const Q6_K*>(row);
    for (int64_t b = 0; b < nb; ++b) d[b] = h2f(x[b].d);
    return;
  }
  APEX_CHECK(w == TypeId::Q4_K, "SIMD panel decoding is Q4_K or Q6_K");
  const auto* x = reinterpret_cast<const Q4_K*>(row);
  for (int64_t b = 0; b < nb; ++b) {
    d[b] = h2f(x[b].d);
    dmin[b] = h2f(x[b].dmin);
    for (int sub = 0; sub < 8; ++sub) {
      int scale, min;
      k4_scale_min(x[b].scales, sub, scale, min);
      mins[b * 16 + 2 * sub] = mins[b * 16 + 2 * sub + 1] = static_cast<int16_t>(min);
    }
  }
}

// Row r's block scales (and mins) into lane r of the panel.
void copy_scales(Panel& out, int r, int64_t nb, bool with_min, const std::vector<float>& d,
                 const std::vector<float>& dmin, const std::vector<int16_t>& mins) {
  const int p = out.rows;
  for (int64_t b = 0; b < nb; ++b) out.d[static_cast<size_t>(b * p + r)] = d[static_cast<size_t>(b)];
  if (!with_min) return;
  for (int64_t b = 0; b < nb; ++b) {
    out.dmin[static_cast<size_t>(b * p + r)] = dmin[static_cast<size_t>(b)];
    for (int j = 0; j < 8; ++j) {
      int32_t pair;
      std::memcpy(&pair, &mins[static_cast<size_t>(b * 16 + 2 * j)], 4);
      out.mins[static_cast<size_t>((b * 8 + j) * p + r)] = pair;
    }
  }
}

}  // namespace

void build_panel(TypeId w, const uint8_t* const* rows, int nr, int p, int64_t n, Panel& out) {
  const int64_t nb = n / packed_block(w);
  const bool with_min = packed_kind(w) == PackedKind::kLanes8Min;
  const bool lane_pairs = w != TypeId::Q8_0;
  out.n = n;
  out.n_blocks = nb;
  out.rows = p;
  out.q.resize(static_cast<size_t>(n / 2 * p));
  out.d.resize(static_cast<size_t>(nb * p));
  out.dmin.resize(with_min ? static_cast<size_t>(nb * p) : 0);
  out.mins.resize(with_min ? static_cast<size_t>(nb * 8 * p) : 0);
  // Every row's element pairs go to its own staging row first (decoded in
  // place), then one transpose puts pair k of row r at q[k * p + r]; the
  // scales go to lane r directly.
  const int64_t n_pairs = n / 2;
  thread_local std::vector<int32_t> staged;
  thread_local std::vector<int16_t> q, mins;
  thread_local std::vector<float> d, dmin;
  staged.resize(static_cast<size_t>(p * n_pairs));
  q.resize(static_cast<size_t>(n));
  d.resize(static_cast<size_t>(nb));
  dmin.resize(static_cast<size_t>(nb));
  mins.resize(static_cast<size_t>(nb * 16));
  for (int r = 0; r < p; ++r) {
    int32_t* dst = staged.data() + r * n_pairs;
    if (r < nr && simd::decode_paired_row(w, rows[r], n, reinterpret_cast<int16_t*>(dst))) {
      // The values came out already in pair order.
      decode_block_scales(w, rows[r], nb, d.data(), dmin.data(), mins.data());
      copy_scales(out, r, nb, with_min, d, dmin, mins);
      continue;
    }
    if (r < nr) {
      decode_weight_row(w, rows[r], n, q.data(), d.data(), dmin.data(), mins.data());
    } else {
      std::fill(q.begin(), q.end(), int16_t{0});
      std::fill(d.begin(), d.end(), 0.0f);
      std::fill(dmin.begin(), dmin.end(), 0.0f);
      std::fill(mins.begin(), mins.end(), int16_t{0});
    }
    for (int64_t k = 0; k < n_pairs; ++k) {
      // K-quants: pair 8g + l holds elements 16g + l and 16g + l + 8.
      const int64_t i0 = lane_pairs ? 16 * (k / 8) + k % 8 : 2 * k;
      const int64_t i1 = lane_pairs ? i0 + 8 : i0 + 1;
      const uint32_t lo = static_cast<uint16_t>(q[static_cast<size_t>(i0)]);
      const uint32_t hi = static_cast<uint16_t>(q[static_cast<size_t>(i1)]);
      dst[k] = static_cast<int32_t>(lo | (hi << 16));
    }
    copy_scales(out, r, nb, with_min, d, dmin, mins);
  }
  simd::transpose_i32(staged.data(), p, n_pairs, out.q.data());
}

void pack_activation_row(TypeId act_type, const uint8_t* raw, int64_t n, int16_t* q, float* d,
                         int16_t* bsums) {
  if (act_type == TypeId::Q8_0) {
    const auto* y = reinterpret_cast<const Q8_0*>(raw);
    for (int64_t b = 0; b < n / 32; ++b) {
      d[b] = h2f(y[b].d);
      for (int i = 0; i < 32; ++i) q[b * 32 + i] = y[b].qs[i];
    }
    return;
  }
  APEX_CHECK(act_type == TypeId::Q8_K, "packed activations are Q8_0 or Q8_K");
  const auto* y = reinterpret_cast<const Q8_K*>(raw);
  for (int64_t b = 0; b < n / kQK; ++b) {
    d[b] = y[b].d;
    std::memcpy(bsums + b * 16, y[b].bsums, sizeof(y[b].bsums));
    for (int i = 0; i < kQK; ++i) q[b * kQK + (i / 16) * 16 + 2 * (i % 8) + (i % 16) / 8] = y[b].qs[i];
  }
}

}  // namespace apex::engine
