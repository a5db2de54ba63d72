// Engine kernels, compiled once per Highway target through foreach_target.
// The float dots reproduce ggml's plain build (products in float, sums in
// double); the packed integer dots keep ggml's float order exactly, so
// quantized logits stay bit-identical to the oracle's.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/kernels_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstring>

#include "engine/kernels_simd.h"
#include "engine/packed_rows.h"
#include "engine/quant_dot.h"
#include "quant/fp16.h"

HWY_BEFORE_NAMESPACE();
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

// ---- packed integer dot products (packed_rows.h) ----
// R weight rows against one activation row. The integer sums come from
// 16-bit pairwise multiply-adds (exact, order free); the float part below is
// ggml's plain kernels' order, operation by operation.
constexpr int kMaxPackedRows = 4;

// Eight lane sums (element index mod 8) of the 256 products of one block,
// for each of R rows. Needs 8 | 2 * Lanes(int32) (every x86 target).
template <int R>
HWY_INLINE void Lanes8Block(const int16_t* const* w, const int16_t* a, int32_t (*lanes)[8]) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const size_t N16 = hn::Lanes(d16), N32 = hn::Lanes(d32);
  using V32 = hn::Vec<decltype(d32)>;
  V32 acc0[R], acc1[R], unused = hn::Zero(d32);
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = hn::Zero(d32);
  for (size_t i = 0; i < 256; i += 2 * N16) {
    const auto a0 = hn::LoadU(d16, a + i), a1 = hn::LoadU(d16, a + i + N16);
    for (int r = 0; r < R; ++r) {
      acc0[r] = hn::ReorderWidenMulAccumulate(d32, hn::LoadU(d16, w[r] + i), a0, acc0[r], unused);
      acc1[r] = hn::ReorderWidenMulAccumulate(d32, hn::LoadU(d16, w[r] + i + N16), a1, acc1[r], unused);
    }
  }
  HWY_ALIGN int32_t buf[2 * hn::MaxLanes(d32)];
  for (int r = 0; r < R; ++r) {
    const V32 v0 = hn::RearrangeToOddPlusEven(acc0[r], unused);
    const V32 v1 = hn::RearrangeToOddPlusEven(acc1[r], unused);
#if HWY_TARGET != HWY_SCALAR
    constexpr size_t kMax32 = hn::MaxLanes(decltype(d32)());
    if constexpr (kMax32 == 16) {
      // AVX-512: lanes k and k + 8 hold the same lane; fold the halves.
      const hn::Half<decltype(d32)> d8;
      const auto v = hn::Add(v0, v1);
      hn::StoreU(hn::Add(hn::LowerHalf(d8, v), hn::UpperHalf(d8, v)), d8, lanes[r]);
      continue;
    } else if constexpr (kMax32 == 8) {
      hn::StoreU(hn::Add(v0, v1), d32, lanes[r]);
      continue;
    }
#endif
    for (int l = 0; l < 8; ++l) lanes[r][l] = 0;
    if (N32 % 8 == 0) {
      hn::Store(hn::Add(v0, v1), d32, buf);
      for (size_t k = 0; k < N32; ++k) lanes[r][k % 8] += buf[k];
    } else {
      hn::Store(v0, d32, buf);
      hn::Store(v1, d32, buf + N32);
      for (size_t k = 0; k < 2 * N32; ++k) lanes[r][k % 8] += buf[k];
    }
  }
}

// The sum of the 32 products of one block of 32, for each of R rows.
template <int R>
HWY_INLINE void Sum32Block(const int16_t* const* w, const int16_t* a, int32_t* sums) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const size_t N16 = hn::Lanes(d16);
  using V32 = hn::Vec<decltype(d32)>;
  V32 acc[R], unused = hn::Zero(d32);
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(d32);
  for (size_t i = 0; i < 32; i += N16) {
    const auto av = hn::LoadU(d16, a + i);
    for (int r = 0; r < R; ++r) {
      acc[r] = hn::ReorderWidenMulAccumulate(d32, hn::LoadU(d16, w[r] + i), av, acc[r], unused);
    }
  }
  for (int r = 0; r < R; ++r) {
    sums[r] = hn::GetLane(hn::SumOfLanes(d32, hn::RearrangeToOddPlusEven(acc[r], unused)));
  }
}

template <int R>
void PackedDotR(PackedKind kind, const PackedRow* const* rows, const int16_t* aq, const float* ad,
                const int16_t* absums, int64_t n, float* out) {
  const int16_t* w[R];
  for (int r = 0; r < R; ++r) w[r] = rows[r]->q.data();
  float sumf[R] = {};
  if (kind == PackedKind::kBlock32) {
    for (int64_t b = 0; b < n / 32; ++b) {
      int32_t isum[R];
      Sum32Block<R>(w, aq + 32 * b, isum);
      for (int r = 0; r < R; ++r) {
        sumf[r] += static_cast<float>(isum[r]) * (rows[r]->d[b] * ad[b]);
        w[r] += 32;
      }
    }
    for (int r = 0; r < R; ++r) out[r] = sumf[r];
    return;
  }
  float sums[R][8] = {};
  for (int64_t b = 0; b < n / 256; ++b) {
    const int16_t* a = aq + 256 * b;
    const int16_t* bs = absums + 16 * b;
    if (kind == PackedKind::kSub32) {
      for (int ib = 0; ib < 8; ++ib) {
        int32_t isum[R];
        const int16_t* ws[R];
        for (int r = 0; r < R; ++r) ws[r] = w[r] + 32 * ib;
        Sum32Block<R>(ws, a + 32 * ib, isum);
        for (int r = 0; r < R; ++r) {
          const float d4d8 = rows[r]->d[b] * ad[b];
          const float d1 = d4d8 * static_cast<float>(rows[r]->aux[b * 16 + ib]);
          sumf[r] += d1 * static_cast<float>(isum[r]);
        }
      }
    } else {
      int32_t lanes[R][8];
      Lanes8Block<R>(w, a, lanes);
      for (int r = 0; r < R; ++r) {
        const PackedRow& p = *rows[r];
        const float d = p.d[b] * ad[b];
        if (kind == PackedKind::kTotalMin) {
          int32_t isum = 0, summs = 0;
          for (int l = 0; l < 8; ++l) isum += lanes[r][l];
          for (int j = 0; j < 16; ++j) summs += bs[j] * p.aux[b * 16 + j];
          const float dmin = p.dmin[b] * ad[b];
          sumf[r] += d * static_cast<float>(isum) - dmin * static_cast<float>(summs);
          continue;
        }
        for (int l = 0; l < 8; ++l) sums[r][l] += d * static_cast<float>(lanes[r][l]);
        if (kind == PackedKind::kLanes8Min) {
          int32_t sumi = 0;
          for (int j = 0; j < 16; ++j) sumi += bs[j] * p.aux[b * 16 + j];
          const float dmin = p.dmin[b] * ad[b];
          sumf[r] -= dmin * static_cast<float>(sumi);
        }
      }
    }
    for (int r = 0; r < R; ++r) w[r] += 256;
  }
  for (int r = 0; r < R; ++r) {
    if (kind == PackedKind::kLanes8Min || kind == PackedKind::kLanes8) {
      for (int l = 0; l < 8; ++l) sumf[r] += sums[r][l];
    }
    out[r] = sumf[r];
  }
}

void PackedDotRows(int kind, int n_rows, const PackedRow* const* rows, const int16_t* aq,
                   const float* ad, const int16_t* absums, int64_t n, float* out) {
  const auto k = static_cast<PackedKind>(kind);
  switch (n_rows) {
    case 4: PackedDotR<4>(k, rows, aq, ad, absums, n, out); return;
    case 3: PackedDotR<3>(k, rows, aq, ad, absums, n, out); return;
    case 2: PackedDotR<2>(k, rows, aq, ad, absums, n, out); return;
    default: PackedDotR<1>(k, rows, aq, ad, absums, n, out); return;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::engine::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::engine::simd {

HWY_EXPORT(DotF32);
HWY_EXPORT(DotF16);
HWY_EXPORT(AxpyF16);
HWY_EXPORT(PackedDotRows);

void packed_dot_rows(PackedKind kind, int n_rows, const PackedRow* const* rows, const int16_t* aq,
                     const float* ad, const int16_t* absums, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(PackedDotRows)(static_cast<int>(kind), n_rows, rows, aq, ad, absums, n, out);
}

void axpy_f16(float a, const uint16_t* v, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyF16)(a, v, out, n);
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
