// Engine kernels, compiled once per Highway target through foreach_target.
// The float dots reproduce ggml's plain build (products in float, sums in
// double); the panel integer GEMM keeps ggml's float order exactly, so
// quantized logits stay bit-identical to the oracle's.
// Also compile the AVX-512 VNNI target (simd_pairs-inl.h).
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/kernels_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include "engine/simd_pairs-inl.h"

#include <cmath>
#include <cstring>

#include "engine/kernels_simd.h"
#include "engine/ops.h"
#include "engine/packed_rows.h"
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

// Products rounded to float, summed in double: what ggml's plain x86-64
// build does (ggml_vec_dot_f32 / _f16 without GGML_SIMD). Products of two
// F16 values are exact in float, so F16 dots come out (almost always)
// bit-identical to the oracle's, which keeps F16 models within 1e-3.
template <class LoadA, class LoadB>
HWY_INLINE float DotDouble(int64_t n, LoadA load_a, LoadB load_b) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // as many floats as doubles
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  auto s0 = hn::Zero(dd), s1 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::Add(s0, hn::PromoteTo(dd, hn::Mul(load_a(df, i), load_b(df, i))));
    s1 = hn::Add(s1, hn::PromoteTo(dd, hn::Mul(load_a(df, i + N), load_b(df, i + N))));
  }
  for (; i + N <= n; i += N) s0 = hn::Add(s0, hn::PromoteTo(dd, hn::Mul(load_a(df, i), load_b(df, i))));
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(s0, s1)));
  for (; i < n; ++i) {
    sum += static_cast<double>(hn::GetLane(hn::Mul(load_a(hn::CappedTag<float, 1>(), i),
                                                   load_b(hn::CappedTag<float, 1>(), i))));
  }
  return static_cast<float>(sum);
}

float DotF32(const float* a, const float* b, int64_t n) {
  return DotDouble(
      n, [a](auto d, int64_t i) { return hn::LoadU(d, a + i); },
      [b](auto d, int64_t i) { return hn::LoadU(d, b + i); });
}

// F16 weights x F16 activations.
float DotF16(const uint8_t* w_row, const uint8_t* a_row, int64_t n) {
  const auto* w = reinterpret_cast<const hwy::float16_t*>(w_row);
  const auto* a = reinterpret_cast<const hwy::float16_t*>(a_row);
  return DotDouble(
      n,
      [w](auto d, int64_t i) { return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::float16_t, decltype(d)>(), w + i)); },
      [a](auto d, int64_t i) { return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::float16_t, decltype(d)>(), a + i)); });
}

// out[i] += a * v[i] for n F16 values.
void AxpyF16(float a, const uint16_t* v_bits, float* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const auto* v = reinterpret_cast<const hwy::float16_t*>(v_bits);
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto va = hn::Set(df, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::MulAdd(va, hn::PromoteTo(df, hn::LoadU(dh, v + i)), hn::LoadU(df, out + i)), df,
               out + i);
  }
  for (; i < n; ++i) out[i] += a * quant::fp16_to_fp32(v_bits[i]);
}

// acc[i] += double(p[j] * v_j[i]) over rows j = 0..n_rows-1 in order (row j
// at v_bits + j * stride, F16), skipping rows whose p[j] is 0: ggml's plain
// build forms each product in float (exact for an F16 p) and sums over
// positions in double. The same operations lane by lane, so the result is
// bit-identical; a block of acc stays in registers across all rows.
void WeightedRowsF16Double(const float* p, int64_t n_rows, const uint16_t* v_bits, int64_t stride,
                           double* acc, int64_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const hn::Rebind<hwy::float16_t, decltype(dd)> dh;
  const auto* v = reinterpret_cast<const hwy::float16_t*>(v_bits);
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  auto term = [&](float pj, const hwy::float16_t* src) {
    return hn::PromoteTo(dd, hn::Mul(hn::Set(df, pj), hn::PromoteTo(df, hn::LoadU(dh, src))));
  };
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    auto a0 = hn::LoadU(dd, acc + i), a1 = hn::LoadU(dd, acc + i + N);
    auto a2 = hn::LoadU(dd, acc + i + 2 * N), a3 = hn::LoadU(dd, acc + i + 3 * N);
    for (int64_t j = 0; j < n_rows; ++j) {
      if (p[j] == 0.0f) continue;
      const hwy::float16_t* row = v + j * stride + i;
      a0 = hn::Add(a0, term(p[j], row));
      a1 = hn::Add(a1, term(p[j], row + N));
      a2 = hn::Add(a2, term(p[j], row + 2 * N));
      a3 = hn::Add(a3, term(p[j], row + 3 * N));
    }
    hn::StoreU(a0, dd, acc + i);
    hn::StoreU(a1, dd, acc + i + N);
    hn::StoreU(a2, dd, acc + i + 2 * N);
    hn::StoreU(a3, dd, acc + i + 3 * N);
  }
  for (; i + N <= n; i += N) {
    auto a0 = hn::LoadU(dd, acc + i);
    for (int64_t j = 0; j < n_rows; ++j) {
      if (p[j] != 0.0f) a0 = hn::Add(a0, term(p[j], v + j * stride + i));
    }
    hn::StoreU(a0, dd, acc + i);
  }
  for (; i < n; ++i) {
    for (int64_t j = 0; j < n_rows; ++j) {
      if (p[j] != 0.0f) acc[i] += static_cast<double>(p[j] * quant::fp16_to_fp32(v_bits[j * stride + i]));
    }
  }
}

// ---- ggml's SSE2 exp, lane by lane (ops.cpp's exp_approx) ----
// The same float operations in the same order (separate multiplies and
// adds), so every lane equals exp_approx bit for bit; lanes whose exponent
// leaves the normal range take the scalar function.
template <class DF, class VF = hn::Vec<DF>>
HWY_INLINE VF ExpApprox(DF df, VF x) {
  const hn::RebindToUnsigned<DF> du;
  const VF shift = hn::Set(df, 0x1.8p23f);
  const VF z = hn::Add(hn::Mul(x, hn::Set(df, 0x1.715476p+0f)), shift);
  const VF n = hn::Sub(z, shift);
  const VF b = hn::Sub(hn::Sub(x, hn::Mul(n, hn::Set(df, 0x1.62e4p-1f))), hn::Mul(n, hn::Set(df, 0x1.7f7d1cp-20f)));
  const auto e = hn::ShiftLeft<23>(hn::BitCast(du, z));
  const VF k = hn::BitCast(df, hn::Add(e, hn::Set(du, 0x3f800000u)));
  const VF u = hn::Mul(b, b);
  const VF p1 = hn::Add(hn::Mul(hn::Set(df, 0x1.0e4020p-7f), b), hn::Set(df, 0x1.573e2ep-5f));
  const VF p2 = hn::Add(hn::Mul(hn::Set(df, 0x1.555e66p-3f), b), hn::Set(df, 0x1.fffdb6p-2f));
  const VF j = hn::Add(hn::Mul(hn::Add(hn::Mul(p1, u), p2), u), hn::Mul(hn::Set(df, 0x1.ffffecp-1f), b));
  VF r = hn::Add(hn::Mul(j, k), k);
  const auto outside = hn::Not(hn::Le(hn::Abs(n), hn::Set(df, 126.0f)));
  if (HWY_UNLIKELY(!hn::AllFalse(df, outside))) {
    HWY_ALIGN float xs[hn::MaxLanes(df)];
    HWY_ALIGN float rs[hn::MaxLanes(df)];
    hn::Store(x, df, xs);
    for (size_t i = 0; i < hn::Lanes(df); ++i) rs[i] = exp_approx(xs[i]);
    r = hn::Load(df, rs);
  }
  return r;
}

// out[i] = exp_approx(x[i] - sub) for i < n (n a multiple of 4 or not).
void ExpSub(const float* x, float sub, float* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, sub);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(ExpApprox(df, hn::Sub(hn::LoadU(df, x + i), vs)), df, out + i);
  for (; i < n; ++i) out[i] = exp_approx(x[i] - sub);
}

// out[i] = gate[i] / (1 + exp_approx(0 - gate[i])) * up[i] for i < n.
void SwigluApprox(const float* gate, const float* up, float* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f), zero = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    const auto e = ExpApprox(df, hn::Sub(zero, g));
    hn::StoreU(hn::Mul(hn::Div(g, hn::Add(one, e)), hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + exp_approx(0.0f - gate[i])) * up[i];
}

// ---- panel integer GEMM (packed_rows.h) ----
// P weight rows (one panel) against C activation rows at a time: C int32
// accumulators, one lane per weight row, fed by pairwise multiply-adds of a
// panel vector (P rows' element pair k) with the broadcast pair k of each
// activation row. The integer sums are exact; the float part is ggml's plain
// kernels' order, operation by operation (no fused multiply-adds), so every
// lane equals quant_dot.h's row kernel bit for bit.

int PanelRows() { return static_cast<int>(hn::Lanes(hn::ScalableTag<int32_t>())); }

HWY_INLINE int32_t LoadPair(const int16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

#if HWY_TARGET != HWY_SCALAR
// Q8_0: sum += isum * (dx * dy) per block of 32.
template <int C>
HWY_INLINE void PanelTokens32(const Panel& panel, const int16_t* const* aq, const float* const* ad,
                              float* const* out, int nr) {
  const hn::ScalableTag<int32_t> d32;
  const hn::Repartition<int16_t, decltype(d32)> d16;
  const hn::Rebind<float, decltype(d32)> df;
  using V32 = hn::Vec<decltype(d32)>;
  using VF = hn::Vec<decltype(df)>;
  const int64_t P = static_cast<int64_t>(hn::Lanes(d32));
  V32 iacc[C];
  VF facc[C];
  const V32 zero = hn::Zero(d32);
  for (int c = 0; c < C; ++c) facc[c] = hn::Zero(df);
  for (int64_t b = 0; b < panel.n_blocks; ++b) {
    for (int c = 0; c < C; ++c) iacc[c] = zero;
    const int32_t* w = panel.q.data() + b * 16 * P;
    for (int64_t k = 0; k < 16; ++k) {
      const auto wv = hn::BitCast(d16, hn::LoadU(d32, w + k * P));
      for (int c = 0; c < C; ++c) {
        const auto av = hn::BitCast(d16, hn::Set(d32, LoadPair(aq[c] + b * 32 + 2 * k)));
        iacc[c] = MulAddPairs(d32, wv, av, iacc[c]);
      }
    }
    const VF dw = hn::LoadU(df, panel.d.data() + b * P);
    for (int c = 0; c < C; ++c) {
      facc[c] = hn::Add(facc[c], hn::Mul(hn::ConvertTo(df, iacc[c]), hn::Mul(dw, hn::Set(df, ad[c][b]))));
    }
  }
  HWY_ALIGN float buf[hn::MaxLanes(df)];
  for (int c = 0; c < C; ++c) {
    if (nr == P) {
      hn::StoreU(facc[c], df, out[c]);
    } else {
      hn::Store(facc[c], df, buf);
      for (int r = 0; r < nr; ++r) out[c][r] = buf[r];
    }
  }
}

// K-quants: eight float lane sums, sums[l] += (dw * da) * lane l's integer
// sum per block; kMin: sumf -= (dmin * da) * sum(bsums * mins); at the end
// sumf += sums[0..7] in order.
template <int C, bool kMin>
HWY_INLINE void PanelTokens256(const Panel& panel, const int16_t* const* aq, const float* const* ad,
                               const int16_t* const* absums, float* const* out, int nr) {
  const hn::ScalableTag<int32_t> d32;
  const hn::Repartition<int16_t, decltype(d32)> d16;
  const hn::Rebind<float, decltype(d32)> df;
  using V32 = hn::Vec<decltype(d32)>;
  using VF = hn::Vec<decltype(df)>;
  const int64_t P = static_cast<int64_t>(hn::Lanes(d32));
  constexpr size_t kMaxP = hn::MaxLanes(decltype(df)());
  HWY_ALIGN float sums[C][8][kMaxP];
  V32 iacc[C];
  VF sumf[C], dd[C];
  const V32 zero = hn::Zero(d32);
  for (int c = 0; c < C; ++c) {
    sumf[c] = hn::Zero(df);
    for (int l = 0; l < 8; ++l) hn::Store(hn::Zero(df), df, sums[c][l]);
  }
  for (int64_t b = 0; b < panel.n_blocks; ++b) {
    const VF dw = hn::LoadU(df, panel.d.data() + b * P);
    for (int c = 0; c < C; ++c) dd[c] = hn::Mul(dw, hn::Set(df, ad[c][b]));
    const int32_t* w = panel.q.data() + b * 128 * P;
    for (int l = 0; l < 8; ++l) {
      for (int c = 0; c < C; ++c) iacc[c] = zero;
      for (int64_t g = 0; g < 16; ++g) {
        const int64_t k = 8 * g + l;
        const auto wv = hn::BitCast(d16, hn::LoadU(d32, w + k * P));
        for (int c = 0; c < C; ++c) {
          const auto av = hn::BitCast(d16, hn::Set(d32, LoadPair(aq[c] + b * 256 + 2 * k)));
          iacc[c] = MulAddPairs(d32, wv, av, iacc[c]);
        }
      }
      for (int c = 0; c < C; ++c) {
        const VF s = hn::Add(hn::Load(df, sums[c][l]), hn::Mul(dd[c], hn::ConvertTo(df, iacc[c])));
        hn::Store(s, df, sums[c][l]);
      }
    }
    if constexpr (kMin) {
      for (int c = 0; c < C; ++c) iacc[c] = zero;
      const int32_t* m = panel.mins.data() + b * 8 * P;
      for (int j = 0; j < 8; ++j) {
        const auto mv = hn::BitCast(d16, hn::LoadU(d32, m + j * P));
        for (int c = 0; c < C; ++c) {
          const auto sv = hn::BitCast(d16, hn::Set(d32, LoadPair(absums[c] + b * 16 + 2 * j)));
          iacc[c] = MulAddPairs(d32, mv, sv, iacc[c]);
        }
      }
      const VF dm = hn::LoadU(df, panel.dmin.data() + b * P);
      for (int c = 0; c < C; ++c) {
        const VF dmin = hn::Mul(dm, hn::Set(df, ad[c][b]));
        sumf[c] = hn::Sub(sumf[c], hn::Mul(dmin, hn::ConvertTo(df, iacc[c])));
      }
    }
  }
  HWY_ALIGN float buf[kMaxP];
  for (int c = 0; c < C; ++c) {
    VF r = sumf[c];
    for (int l = 0; l < 8; ++l) r = hn::Add(r, hn::Load(df, sums[c][l]));
    if (nr == P) {
      hn::StoreU(r, df, out[c]);
    } else {
      hn::Store(r, df, buf);
      for (int i = 0; i < nr; ++i) out[c][i] = buf[i];
    }
  }
}

template <int C>
HWY_INLINE void PanelTokens(int kind, const Panel& panel, const int16_t* const* aq, const float* const* ad,
                            const int16_t* const* absums, float* const* out, int nr) {
  switch (static_cast<PackedKind>(kind)) {
    case PackedKind::kBlock32: PanelTokens32<C>(panel, aq, ad, out, nr); return;
    case PackedKind::kLanes8Min: PanelTokens256<C, true>(panel, aq, ad, absums, out, nr); return;
    default: PanelTokens256<C, false>(panel, aq, ad, absums, out, nr); return;
  }
}

// Tokens per pass: enough independent accumulators to hide the multiply-add
// latency, few enough to stay in registers (32 vector registers on AVX-512).
constexpr int kMaxTokens = HWY_MAX_BYTES >= 64 ? 8 : 4;
#endif  // HWY_TARGET != HWY_SCALAR

void PanelGemm(int kind, const Panel& panel, int nr, int64_t n_tok, const int16_t* const* aq,
               const float* const* ad, const int16_t* const* absums, float* const* out) {
#if HWY_TARGET == HWY_SCALAR
  // One row per panel (P = 1): quant_dot.h's float order, one value at a time.
  const auto k = static_cast<PackedKind>(kind);
  for (int64_t t = 0; t < n_tok; ++t) {
    auto pair = [&](const int32_t* src, int64_t i, const int16_t* a, int64_t ai) {
      int16_t w[2];
      std::memcpy(w, src + i, 4);
      return w[0] * a[ai] + w[1] * a[ai + 1];
    };
    float sumf = 0.0f, sums[8] = {};
    for (int64_t b = 0; b < panel.n_blocks; ++b) {
      if (k == PackedKind::kBlock32) {
        int32_t isum = 0;
        for (int64_t j = 0; j < 16; ++j) isum += pair(panel.q.data(), b * 16 + j, aq[t], b * 32 + 2 * j);
        sumf += static_cast<float>(isum) * (panel.d[static_cast<size_t>(b)] * ad[t][b]);
        continue;
      }
      const float d = panel.d[static_cast<size_t>(b)] * ad[t][b];
      for (int l = 0; l < 8; ++l) {
        int32_t isum = 0;
        for (int64_t g = 0; g < 16; ++g) {
          isum += pair(panel.q.data(), b * 128 + 8 * g + l, aq[t], b * 256 + 2 * (8 * g + l));
        }
        sums[l] += d * static_cast<float>(isum);
      }
      if (k == PackedKind::kLanes8Min) {
        int32_t msum = 0;
        for (int j = 0; j < 8; ++j) msum += pair(panel.mins.data(), b * 8 + j, absums[t], b * 16 + 2 * j);
        const float dmin = panel.dmin[static_cast<size_t>(b)] * ad[t][b];
        sumf -= dmin * static_cast<float>(msum);
      }
    }
    if (k != PackedKind::kBlock32) {
      for (int l = 0; l < 8; ++l) sumf += sums[l];
    }
    if (nr > 0) out[t][0] = sumf;
  }
#else
  int64_t t = 0;
  for (; t + kMaxTokens <= n_tok; t += kMaxTokens) {
    PanelTokens<kMaxTokens>(kind, panel, aq + t, ad + t, absums + t, out + t, nr);
  }
  switch (n_tok - t) {
    case 0: return;
#if HWY_MAX_BYTES >= 64
    case 7: PanelTokens<7>(kind, panel, aq + t, ad + t, absums + t, out + t, nr); return;
    case 6: PanelTokens<6>(kind, panel, aq + t, ad + t, absums + t, out + t, nr); return;
    case 5: PanelTokens<5>(kind, panel, aq + t, ad + t, absums + t, out + t, nr); return;
    case 4: PanelTokens<4>(kind, panel, aq + t, ad + t, absums + t, out + t, nr); return;
#endif
    case 3: PanelTokens<3>(kind, panel, aq + t, ad + t, absums + t, out + t, nr); return;
    case 2: PanelTokens<2>(kind, panel, aq + t, ad + t, absums + t, out + t, nr); return;
    default: PanelTokens<1>(kind, panel, aq + t, ad + t, absums + t, out + t, nr); return;
  }
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::engine::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::engine::simd {

HWY_EXPORT(DotF32);
HWY_EXPORT(DotF16);
HWY_EXPORT(AxpyF16);
HWY_EXPORT(WeightedRowsF16Double);
HWY_EXPORT(PanelRows);
HWY_EXPORT(ExpSub);
HWY_EXPORT(SwigluApprox);
HWY_EXPORT(PanelGemm);

void exp_sub(const float* x, float sub, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ExpSub)(x, sub, out, n);
}
void swiglu_approx(const float* gate, const float* up, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SwigluApprox)(gate, up, out, n);
}

int panel_rows() {
  static const int p = HWY_DYNAMIC_DISPATCH(PanelRows)();
  return p;
}

void panel_gemm(PackedKind kind, const Panel& panel, int nr, int64_t n_tok, const int16_t* const* aq,
                const float* const* ad, const int16_t* const* absums, float* const* out) {
  HWY_DYNAMIC_DISPATCH(PanelGemm)(static_cast<int>(kind), panel, nr, n_tok, aq, ad, absums, out);
}

void axpy_f16(float a, const uint16_t* v, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyF16)(a, v, out, n);
}
void weighted_rows_f16_double(const float* p, int64_t n_rows, const uint16_t* v, int64_t stride,
                              double* acc, int64_t n) {
  HWY_DYNAMIC_DISPATCH(WeightedRowsF16Double)(p, n_rows, v, stride, acc, n);
}
float dot_f16(const uint16_t* a, const uint16_t* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF16)(reinterpret_cast<const uint8_t*>(a),
                                      reinterpret_cast<const uint8_t*>(b), n);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF32)(a, b, n);
}

namespace {
float dot_f16(const uint8_t* w, const uint8_t* a, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF16)(w, a, n);
}
}  // namespace

RowDotFn row_dot_kernel(quant::TypeId weight_type) {
  switch (weight_type) {
    case quant::TypeId::F16: return &dot_f16;
    case quant::TypeId::Q8_0: return &row_dot_q8_0;
    case quant::TypeId::Q4_K: return &row_dot_q4_k;
    case quant::TypeId::Q6_K: return &row_dot_q6_k;
    case quant::TypeId::Q5_K: return &dot_q5_k_q8_k;
    case quant::TypeId::Q3_K: return &dot_q3_k_q8_k;
    case quant::TypeId::Q2_K: return &dot_q2_k_q8_k;
    case quant::TypeId::IQ4_XS: return &dot_iq4_xs_q8_k;
    default: return nullptr;
  }
}

}  // namespace apex::engine::simd
#endif  // HWY_ONCE
