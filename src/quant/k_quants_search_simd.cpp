// Fast versions of the K-quant sub-block searches (see k_quants_search.h).
//
// A super-block's sub-blocks are fitted independently, so one SIMD lane holds
// one sub-block: lane j runs the reference search for sub-block j, operation
// for operation (lane-wise IEEE adds, multiplies, divides and compares, no
// fused multiply-add, no horizontal sums), and its results are bit-identical
// to the reference. Where the reference branches (accept a candidate, skip a
// degenerate group) the lanes compute both sides and select per lane.
//
// The data is transposed first: xt[i * lanes + j] is element i of the j-th
// sub-block of the batch, so the i-th step of every lane is one vector load.
//
// Compiled once per instruction set by Highway (foreach_target) and picked at
// run time; every target gives the same bytes (a test runs each one).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/k_quants_search_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstdint>

#include "quant/k_quants_search.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::kq {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Most lanes used per batch.
constexpr int kMaxLanes = 16;

// Lane-wise nearest_int (rounding.h): add 1.5 * 2^23 so the FPU's own
// round-to-nearest-even leaves the integer in the low mantissa bits; then
// clamp to [lo, hi] and return it as a float (exact: small integers).
template <class D>
HWY_INLINE hn::Vec<D> round_clamp(D d, hn::Vec<D> v, hn::Vec<hn::RebindToSigned<D>> lo,
                                  hn::Vec<hn::RebindToSigned<D>> hi) {
  const hn::RebindToSigned<D> di;
  const auto bits = hn::BitCast(di, hn::Add(v, hn::Set(d, 12582912.0f)));
  const auto l = hn::Sub(hn::And(bits, hn::Set(di, 0x007fffff)), hn::Set(di, 0x00400000));
  return hn::ConvertTo(d, hn::Min(hn::Max(l, lo), hi));
}

// C's `a != b`, true when either is NaN. (Highway's Ne is an ordered compare
// on some targets and an unordered one on others.)
template <class V>
HWY_INLINE auto not_equal(V a, V b) {
  return hn::Not(hn::Eq(a, b));
}

// One batch of sub-blocks in transposed form. Lanes past `used` repeat the
// first sub-block so they compute ordinary values; their results are dropped.
template <int n, class D>
struct Batch {
  int lanes;
  int used;
  HWY_ALIGN float x[n * kMaxLanes];
  HWY_ALIGN float w[n * kMaxLanes];

  void load(D d, const float* src, const float* weights, int first, int groups) {
    lanes = static_cast<int>(hn::Lanes(d));
    used = std::min(lanes, groups - first);
    for (int j = 0; j < lanes; ++j) {
      const int g = first + (j < used ? j : 0);
      for (int i = 0; i < n; ++i) {
        x[i * lanes + j] = src[g * n + i];
        if (weights != nullptr) w[i * lanes + j] = weights[g * n + i];
      }
    }
  }
  hn::Vec<D> xv(D d, int i) const { return hn::Load(d, x + i * lanes); }
  hn::Vec<D> wv(D d, int i) const { return hn::Load(d, w + i * lanes); }
};

// Writes lane j of codes[i] (float codes plus `bias`) to q[(first + j) * n + i].
template <typename Code>
void store_codes(const float* codes, int lanes, int used, int first, int n, float bias, Code* q) {
  for (int j = 0; j < used; ++j) {
    for (int i = 0; i < n; ++i) q[(first + j) * n + i] = static_cast<Code>(codes[i * lanes + j] + bias);
  }
}

// ---- fit_scale_min ----------------------------------------------------------------

template <int n, class D>
void ScaleMinBatch(D d, const float* x, const float* w, int first, int groups, int nmax,
                   const ScaleMinGrid& grid, uint8_t* q, float* scales, float* offsets) {
  using V = hn::Vec<D>;
  const hn::RebindToSigned<D> di;
  Batch<n, D> b;
  b.load(d, x, w, first, groups);
  const int lanes = b.lanes;
  const V zero = hn::Zero(d);
  const auto lo = hn::Zero(di);
  const auto hi = hn::Set(di, nmax);
  auto error_of = [&](V diff) { return grid.use_mad ? hn::Abs(diff) : hn::Mul(diff, diff); };

  // Range and weighted moments, left to right per lane.
  V min = b.xv(d, 0), max = min;
  V sum_w = b.wv(d, 0);
  V sum_x = hn::Mul(sum_w, min);
  for (int i = 1; i < n; ++i) {
    const V xi = b.xv(d, i), wi = b.wv(d, i);
    min = hn::IfThenElse(hn::Lt(xi, min), xi, min);
    max = hn::IfThenElse(hn::Gt(xi, max), xi, max);
    sum_w = hn::Add(sum_w, wi);
    sum_x = hn::Add(sum_x, hn::Mul(wi, xi));
  }
  min = hn::IfThenElse(hn::Gt(min, zero), zero, min);
  const auto flat = hn::Eq(max, min);  // the reference returns early for these
  const V flat_min = min;

  // Starting point.
  HWY_ALIGN float best_codes[n * kMaxLanes];
  HWY_ALIGN float trial[n * kMaxLanes];
  V iscale = hn::Div(hn::Set(d, static_cast<float>(nmax)), hn::Sub(max, min));
  V scale = hn::Div(hn::Set(d, 1.0f), iscale);
  V best_error = zero;
  for (int i = 0; i < n; ++i) {
    const V xi = b.xv(d, i);
    const V l = round_clamp(d, hn::Mul(iscale, hn::Sub(xi, min)), lo, hi);
    hn::Store(l, d, best_codes + i * lanes);
    const V diff = hn::Sub(hn::Add(hn::Mul(scale, l), min), xi);
    best_error = hn::Add(best_error, hn::Mul(b.wv(d, i), error_of(diff)));
  }

  // (nstep < 1 means no grid at all, as in the reference.)
  for (int k = 0; grid.nstep >= 1 && k <= grid.nstep; ++k) {
    // Each lane rounds against its own current min, which an accepted
    // candidate moves.
    const float numerator = grid.rmin + grid.rdelta * static_cast<float>(k) + static_cast<float>(nmax);
    iscale = hn::Div(hn::Set(d, numerator), hn::Sub(max, min));
    V sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < n; ++i) {
      const V xi = b.xv(d, i);
      const V l = round_clamp(d, hn::Mul(iscale, hn::Sub(xi, min)), lo, hi);
      hn::Store(l, d, trial + i * lanes);
      const V wl = hn::Mul(b.wv(d, i), l);
      sum_l = hn::Add(sum_l, wl);
      sum_l2 = hn::Add(sum_l2, hn::Mul(wl, l));
      sum_xl = hn::Add(sum_xl, hn::Mul(wl, xi));
    }
    const V det = hn::Sub(hn::Mul(sum_w, sum_l2), hn::Mul(sum_l, sum_l));
    V this_scale = hn::Div(hn::Sub(hn::Mul(sum_w, sum_xl), hn::Mul(sum_x, sum_l)), det);
    V this_min = hn::Div(hn::Sub(hn::Mul(sum_l2, sum_x), hn::Mul(sum_l, sum_xl)), det);
    const auto positive_min = hn::Gt(this_min, zero);
    this_scale = hn::IfThenElse(positive_min, hn::Div(sum_xl, sum_l2), this_scale);
    this_min = hn::IfThenElse(positive_min, zero, this_min);
    V error = zero;
    for (int i = 0; i < n; ++i) {
      const V diff = hn::Sub(hn::Add(hn::Mul(this_scale, hn::Load(d, trial + i * lanes)), this_min), b.xv(d, i));
      error = hn::Add(error, hn::Mul(b.wv(d, i), error_of(diff)));
    }
    const auto accept = hn::And(hn::Gt(det, zero), hn::Lt(error, best_error));
    if (hn::AllFalse(d, accept)) continue;
    best_error = hn::IfThenElse(accept, error, best_error);
    scale = hn::IfThenElse(accept, this_scale, scale);
    min = hn::IfThenElse(accept, this_min, min);
    for (int i = 0; i < n; ++i) {
      const V t = hn::Load(d, trial + i * lanes);
      hn::Store(hn::IfThenElse(accept, t, hn::Load(d, best_codes + i * lanes)), d, best_codes + i * lanes);
    }
  }

  // Flat groups: scale 0, codes 0, offset from the clamped min.
  scale = hn::IfThenElse(flat, zero, scale);
  min = hn::IfThenElse(flat, flat_min, min);
  for (int i = 0; i < n; ++i) {
    hn::Store(hn::IfThenElse(flat, zero, hn::Load(d, best_codes + i * lanes)), d, best_codes + i * lanes);
  }
  HWY_ALIGN float out_scale[kMaxLanes], out_min[kMaxLanes];
  hn::Store(scale, d, out_scale);
  hn::Store(min, d, out_min);
  for (int j = 0; j < b.used; ++j) {
    scales[first + j] = out_scale[j];
    offsets[first + j] = -out_min[j];
  }
  store_codes(best_codes, lanes, b.used, first, n, 0.0f, q);
}

// ---- fit_symmetric ----------------------------------------------------------------

// Per lane: the signed value of largest magnitude (the first one on ties),
// with that magnitude returned through amax_out.
template <int n, class D>
HWY_INLINE hn::Vec<D> signed_absmax(D d, const Batch<n, D>& b, hn::Vec<D>* amax_out) {
  using V = hn::Vec<D>;
  V amax = hn::Zero(d), max = hn::Zero(d);
  for (int i = 0; i < n; ++i) {
    const V xi = b.xv(d, i);
    const V ax = hn::Abs(xi);
    const auto bigger = hn::Gt(ax, amax);
    amax = hn::IfThenElse(bigger, ax, amax);
    max = hn::IfThenElse(bigger, xi, max);
  }
  *amax_out = amax;
  return max;
}

template <int n, class D>
void SymmetricBatch(D d, const float* x, const float* w, int first, int groups, int nmax, int8_t* q,
                    float* scales) {
  using V = hn::Vec<D>;
  const hn::RebindToSigned<D> di;
  Batch<n, D> b;
  b.load(d, x, w, first, groups);
  const int lanes = b.lanes;
  const V zero = hn::Zero(d);
  const auto lo = hn::Set(di, -nmax);
  const auto hi = hn::Set(di, nmax - 1);
  V amax;
  const V max = signed_absmax(d, b, &amax);
  const auto empty = hn::Lt(amax, hn::Set(d, kGroupMaxEps));

  // Weights (x^2 without an importance vector) and the reference's w*x.
  HWY_ALIGN float wt[n * kMaxLanes], wx[n * kMaxLanes];
  for (int i = 0; i < n; ++i) {
    const V xi = b.xv(d, i);
    const V wi = w != nullptr ? b.wv(d, i) : hn::Mul(xi, xi);
    hn::Store(wi, d, wt + i * lanes);
    hn::Store(hn::Mul(wi, xi), d, wx + i * lanes);
  }
  HWY_ALIGN float best_codes[n * kMaxLanes];
  HWY_ALIGN float trial[n * kMaxLanes];
  // Sums for inverse scale numerator / max; codes go to `codes`.
  auto evaluate = [&](float numerator, float* codes, V* sumlx, V* suml2) {
    const V iscale = hn::Div(hn::Set(d, numerator), max);
    V slx = zero, sl2 = zero;
    for (int i = 0; i < n; ++i) {
      const V l = round_clamp(d, hn::Mul(iscale, b.xv(d, i)), lo, hi);
      hn::Store(l, d, codes + i * lanes);
      slx = hn::Add(slx, hn::Mul(hn::Load(d, wx + i * lanes), l));
      sl2 = hn::Add(sl2, hn::Mul(hn::Mul(hn::Load(d, wt + i * lanes), l), l));
    }
    *sumlx = slx;
    *suml2 = sl2;
  };

  V sumlx, suml2;
  evaluate(static_cast<float>(-nmax), best_codes, &sumlx, &suml2);
  V scale = hn::IfThenElse(not_equal(suml2, zero), hn::Div(sumlx, suml2), zero);
  V best = hn::Mul(scale, sumlx);
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    evaluate(-(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)), trial, &sumlx, &suml2);
    const auto accept = hn::And(hn::Gt(suml2, zero), hn::Gt(hn::Mul(sumlx, sumlx), hn::Mul(best, suml2)));
    if (hn::AllFalse(d, accept)) continue;
    const V new_scale = hn::Div(sumlx, suml2);
    scale = hn::IfThenElse(accept, new_scale, scale);
    best = hn::IfThenElse(accept, hn::Mul(new_scale, sumlx), best);
    for (int i = 0; i < n; ++i) {
      const V t = hn::Load(d, trial + i * lanes);
      hn::Store(hn::IfThenElse(accept, t, hn::Load(d, best_codes + i * lanes)), d, best_codes + i * lanes);
    }
  }

  // Empty groups: scale 0 and code 0 (stored unbiased, so -nmax here).
  scale = hn::IfThenElse(empty, zero, scale);
  const V empty_code = hn::Set(d, static_cast<float>(-nmax));
  for (int i = 0; i < n; ++i) {
    hn::Store(hn::IfThenElse(empty, empty_code, hn::Load(d, best_codes + i * lanes)), d, best_codes + i * lanes);
  }
  HWY_ALIGN float out_scale[kMaxLanes];
  hn::Store(scale, d, out_scale);
  for (int j = 0; j < b.used; ++j) scales[first + j] = out_scale[j];
  store_codes(best_codes, lanes, b.used, first, n, static_cast<float>(nmax), q);
}

// ---- fit_symmetric_coordinate -----------------------------------------------------

template <int n, class D>
void CoordinateBatch(D d, const float* x, int first, int groups, int nmax, int8_t* q, float* scales) {
  using V = hn::Vec<D>;
  const hn::RebindToSigned<D> di;
  Batch<n, D> b;
  b.load(d, x, nullptr, first, groups);
  const int lanes = b.lanes;
  const V zero = hn::Zero(d);
  const auto lo = hn::Set(di, -nmax);
  const auto hi = hn::Set(di, nmax - 1);
  V amax;
  const V max = signed_absmax(d, b, &amax);
  const auto empty = hn::Lt(amax, hn::Set(d, kGroupMaxEps));

  HWY_ALIGN float codes[n * kMaxLanes];
  HWY_ALIGN float wt[n * kMaxLanes], wx[n * kMaxLanes];
  const V iscale = hn::Div(hn::Set(d, static_cast<float>(-nmax)), max);
  V sumlx = zero, suml2 = zero;
  for (int i = 0; i < n; ++i) {
    const V xi = b.xv(d, i);
    const V wi = hn::Mul(xi, xi);
    const V wxi = hn::Mul(wi, xi);
    hn::Store(wi, d, wt + i * lanes);
    hn::Store(wxi, d, wx + i * lanes);
    const V l = round_clamp(d, hn::Mul(iscale, xi), lo, hi);
    hn::Store(l, d, codes + i * lanes);
    sumlx = hn::Add(sumlx, hn::Mul(wxi, l));
    suml2 = hn::Add(suml2, hn::Mul(hn::Mul(wi, l), l));
  }
  // Up to five passes of single-code moves. A lane whose pass changed
  // nothing would change nothing in a further pass either (same state, same
  // decisions), so running on while other lanes still move is harmless.
  for (int pass = 0; pass < 5; ++pass) {
    auto changed = hn::Lt(zero, zero);  // all false
    for (int i = 0; i < n; ++i) {
      const V xi = b.xv(d, i);
      const V wi = hn::Load(d, wt + i * lanes);
      const V wxi = hn::Load(d, wx + i * lanes);
      const V li = hn::Load(d, codes + i * lanes);
      V slx = hn::Sub(sumlx, hn::Mul(wxi, li));
      V sl2 = hn::Sub(suml2, hn::Mul(hn::Mul(wi, li), li));
      const auto may_move = hn::Gt(slx, zero);
      const V new_l = round_clamp(d, hn::Div(hn::Mul(xi, sl2), slx), lo, hi);
      slx = hn::Add(slx, hn::Mul(wxi, new_l));
      sl2 = hn::Add(sl2, hn::Mul(hn::Mul(wi, new_l), new_l));
      const auto better = hn::And(hn::Gt(sl2, zero), hn::Gt(hn::Mul(hn::Mul(slx, slx), suml2),
                                                             hn::Mul(hn::Mul(sumlx, sumlx), sl2)));
      const auto accept = hn::And(hn::And(may_move, not_equal(new_l, li)), better);
      hn::Store(hn::IfThenElse(accept, new_l, li), d, codes + i * lanes);
      sumlx = hn::IfThenElse(accept, slx, sumlx);
      suml2 = hn::IfThenElse(accept, sl2, suml2);
      changed = hn::Or(changed, accept);
    }
    if (hn::AllFalse(d, changed)) break;
  }
  V scale = hn::IfThenElse(hn::Gt(suml2, zero), hn::Div(sumlx, suml2), zero);
  scale = hn::IfThenElse(empty, zero, scale);
  const V empty_code = hn::Set(d, static_cast<float>(-nmax));
  for (int i = 0; i < n; ++i) {
    hn::Store(hn::IfThenElse(empty, empty_code, hn::Load(d, codes + i * lanes)), d, codes + i * lanes);
  }
  HWY_ALIGN float out_scale[kMaxLanes];
  hn::Store(scale, d, out_scale);
  for (int j = 0; j < b.used; ++j) scales[first + j] = out_scale[j];
  store_codes(codes, lanes, b.used, first, n, static_cast<float>(nmax), q);
}

// ---- entry points: batches of up to 8 or 16 lanes ---------------------------------

// Runs fn(d, first) over the groups in batches. Eight-lane vectors for
// super-blocks of eight sub-blocks, so no lanes idle on 16-lane targets.
template <class Fn>
HWY_INLINE void for_each_batch(int groups, Fn fn) {
  if (groups <= 8) {
    const hn::CappedTag<float, 8> d;
    for (int first = 0; first < groups; first += static_cast<int>(hn::Lanes(d))) fn(d, first);
  } else {
    const hn::CappedTag<float, kMaxLanes> d;
    for (int first = 0; first < groups; first += static_cast<int>(hn::Lanes(d))) fn(d, first);
  }
}

// The K types use groups of 16 or 32 values; the group length is a
// compile-time constant in the kernels so their loops unroll. Other lengths
// take the scalar reference.
void FitScaleMinGroups(const float* x, const float* w, int groups, int n, int nmax, const ScaleMinGrid& grid,
                       uint8_t* q, float* scales, float* offsets) {
  if (n == 16) {
    for_each_batch(groups, [&](auto d, int first) {
      ScaleMinBatch<16>(d, x, w, first, groups, nmax, grid, q, scales, offsets);
    });
  } else if (n == 32) {
    for_each_batch(groups, [&](auto d, int first) {
      ScaleMinBatch<32>(d, x, w, first, groups, nmax, grid, q, scales, offsets);
    });
  } else {
    fit_scale_min_groups_ref(x, w, groups, n, nmax, grid, q, scales, offsets);
  }
}

void FitSymmetricGroups(const float* x, const float* w, int groups, int n, int nmax, int8_t* q, float* scales) {
  if (n == 16) {
    for_each_batch(groups, [&](auto d, int first) { SymmetricBatch<16>(d, x, w, first, groups, nmax, q, scales); });
  } else {
    fit_symmetric_groups_ref(x, w, groups, n, nmax, q, scales);
  }
}

void FitSymmetricCoordinateGroups(const float* x, int groups, int n, int nmax, int8_t* q, float* scales) {
  if (n == 16) {
    for_each_batch(groups, [&](auto d, int first) { CoordinateBatch<16>(d, x, first, groups, nmax, q, scales); });
  } else {
    fit_symmetric_coordinate_groups_ref(x, groups, n, nmax, q, scales);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::kq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::kq {

HWY_EXPORT(FitScaleMinGroups);
HWY_EXPORT(FitSymmetricGroups);
HWY_EXPORT(FitSymmetricCoordinateGroups);

void fit_scale_min_groups_fast(const float* x, const float* w, int groups, int n, int nmax,
                               const ScaleMinGrid& grid, uint8_t* q, float* scales, float* offsets) {
  HWY_DYNAMIC_DISPATCH(FitScaleMinGroups)(x, w, groups, n, nmax, grid, q, scales, offsets);
}

void fit_symmetric_groups_fast(const float* x, const float* w, int groups, int n, int nmax, int8_t* q,
                               float* scales) {
  HWY_DYNAMIC_DISPATCH(FitSymmetricGroups)(x, w, groups, n, nmax, q, scales);
}

void fit_symmetric_coordinate_groups_fast(const float* x, int groups, int n, int nmax, int8_t* q,
                                          float* scales) {
  HWY_DYNAMIC_DISPATCH(FitSymmetricCoordinateGroups)(x, groups, n, nmax, q, scales);
}

}  // namespace apex::quant::kq
#endif  // HWY_ONCE
