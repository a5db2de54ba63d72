// Engine kernels, compiled once per Highway target through foreach_target.
// Unlike the quantizers these need not be bit-identical to ggml (logits are
// compared within a tolerance), so they reassociate sums across lanes and
// use fused multiply-adds where the target has them.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/kernels_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstring>

#include "engine/kernels_simd.h"
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

}  // namespace HWY_NAMESPACE
}  // namespace apex::engine::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::engine::simd {

HWY_EXPORT(DotF32);
HWY_EXPORT(DotF16);
HWY_EXPORT(AxpyF16);

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
    case quant::TypeId::Q8_0: return &dot_q8_0_q8_0;
    case quant::TypeId::Q4_K: return &dot_q4_k_q8_k;
    case quant::TypeId::Q6_K: return &dot_q6_k_q8_k;
    default: return nullptr;
  }
}

}  // namespace apex::engine::simd
#endif  // HWY_ONCE
