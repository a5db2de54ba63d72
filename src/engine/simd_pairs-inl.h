// One step of the integer kernels: acc += the pairwise products of two int16
// vectors (a[2i] * b[2i] + a[2i+1] * b[2i+1] into 32-bit lane i), exact.
// Included inside HWY_NAMESPACE by the files compiled per Highway target.
//
// Highway 1.0's ReorderWidenMulAccumulate is a multiply-add followed by an
// add; CPUs with AVX-512 VNNI (Ice Lake, Zen 4: Highway's AVX3_DL target,
// which these files opt into with HWY_WANT_AVX3_DL) do both in one
// instruction, vpdpwssd. Neither saturates and integer sums are exact, so
// the result is the same bit for bit on every target.

// Per-target include guard (Highway's -inl.h convention).
#if defined(APEX_ENGINE_SIMD_PAIRS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef APEX_ENGINE_SIMD_PAIRS_INL_H_
#undef APEX_ENGINE_SIMD_PAIRS_INL_H_
#else
#define APEX_ENGINE_SIMD_PAIRS_INL_H_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0.3's AVX3_DL target string names "avxvnni" but not the
// "avx512vnni" its CPUs have (and its run-time check requires).
#pragma GCC target("avx512vnni")
#endif
namespace apex::engine::simd {
namespace HWY_NAMESPACE {

template <class D32, class V16>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<D32> MulAddPairs(D32 d32, V16 a, V16 b,
                                                     hwy::HWY_NAMESPACE::Vec<D32> acc) {
#if HWY_TARGET == HWY_AVX3_DL
  constexpr size_t kBytes = sizeof(typename D32::T) * hwy::HWY_NAMESPACE::MaxLanes(D32());
  if constexpr (kBytes == 64) {
    return hwy::HWY_NAMESPACE::Vec<D32>{_mm512_dpwssd_epi32(acc.raw, a.raw, b.raw)};
  } else if constexpr (kBytes == 32) {
    return hwy::HWY_NAMESPACE::Vec<D32>{_mm256_dpwssd_epi32(acc.raw, a.raw, b.raw)};
  } else if constexpr (kBytes == 16) {
    return hwy::HWY_NAMESPACE::Vec<D32>{_mm_dpwssd_epi32(acc.raw, a.raw, b.raw)};
  }
#endif
  auto unused = hwy::HWY_NAMESPACE::Zero(d32);
  return hwy::HWY_NAMESPACE::ReorderWidenMulAccumulate(d32, a, b, acc, unused);
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::engine::simd
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
