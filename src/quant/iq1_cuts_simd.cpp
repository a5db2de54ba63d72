// SIMD cut-point searches for the IQ1 fast paths (see iq1_cuts.h for the
// rule that keeps the results identical to the reference's sequential scan).
//
// Compiled once per instruction set by Highway (foreach_target) and picked
// at run time; a test runs every compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/iq1_cuts_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cfloat>

#include "quant/iq1_cuts.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::iq1 {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Most lanes of any target (x86: 16 floats); sums of one chunk are stored in
// arrays of this size for the replay.
constexpr int kMaxLanes = 16;

// The reference's acceptance step, on sums computed elsewhere.
struct Best {
  float score = -FLT_MAX;
  CutResult r;
  void consider(float sumqx, float sumq2, int i1, int i2, int choice) {
    if (sumq2 > 0 && sumqx * sumqx > score * sumq2) {
      r.scale = sumqx / sumq2;
      score = r.scale * sumqx;
      r.cut1 = i1;
      r.cut2 = i2;
      r.choice = choice;
    }
  }
  // The same step with scale = sumqx / sumq2 and scale * sumqx precomputed.
  void consider(float sumqx, float sumq2, float scale, float score_if, int i1, int i2, int choice) {
    if (sumq2 > 0 && sumqx * sumqx > score * sumq2) {
      r.scale = scale;
      score = score_if;
      r.cut1 = i1;
      r.cut2 = i2;
      r.choice = choice;
    }
  }
};

template <class D, class V>
HWY_INLINE auto passes(D d, V sumqx, V sumq2, float score) {
  return hn::And(hn::Gt(sumq2, hn::Zero(d)), hn::Gt(hn::Mul(sumqx, sumqx), hn::Mul(hn::Set(d, score), sumq2)));
}

CutResult BestCutsS(const float* sumx, const float* sumw, const float* lp, const float* lm, float initial_scale) {
  constexpr int n = 32;
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  using V = hn::Vec<decltype(d)>;
  const int lanes = static_cast<int>(hn::Lanes(d));
  Best best;
  best.r.scale = initial_scale;
  const float* levels[2] = {lp, lm};
  const int signs[2] = {1, -1};
  HWY_ALIGN float qx[2][kMaxLanes], q2[2][kMaxLanes];
  const V x_end = hn::Set(d, sumx[n]);
  const V w_end = hn::Set(d, sumw[n]);
  for (int i1 = 0; i1 <= n; ++i1) {
    // Reference expressions, per sign s:
    //   sumqx = (X[i1] - X[0]) * l0 + (X[i2] - X[i1]) * l1 + (X[n] - X[i2]) * l2
    //   sumq2 = (W[i1] - W[0]) * l0 * l0 + (W[i2] - W[i1]) * l1 * l1 + (W[n] - W[i2]) * l2 * l2
    // evaluated left to right; the first term depends on i1 only.
    const float x_lo = sumx[i1] - sumx[0];
    const float w_lo = sumw[i1] - sumw[0];
    const V x1 = hn::Set(d, sumx[i1]);
    const V w1 = hn::Set(d, sumw[i1]);
    for (int j0 = i1; j0 <= n; j0 += lanes) {
      const V x2 = hn::LoadU(d, sumx + j0);
      const V w2 = hn::LoadU(d, sumw + j0);
      const auto valid = hn::RebindMask(d, hn::Lt(hn::Add(hn::Iota(di, 0), hn::Set(di, j0)), hn::Set(di, n + 1)));
      V vqx[2], vq2[2];
      auto any = hn::And(valid, hn::Lt(hn::Zero(d), hn::Zero(d)));  // all false
      for (int s = 0; s < 2; ++s) {
        const float* l = levels[s];
        vqx[s] = hn::Add(hn::Add(hn::Set(d, x_lo * l[0]), hn::Mul(hn::Sub(x2, x1), hn::Set(d, l[1]))),
                         hn::Mul(hn::Sub(x_end, x2), hn::Set(d, l[2])));
        vq2[s] = hn::Add(hn::Add(hn::Set(d, w_lo * l[0] * l[0]),
                                 hn::Mul(hn::Mul(hn::Sub(w2, w1), hn::Set(d, l[1])), hn::Set(d, l[1]))),
                         hn::Mul(hn::Mul(hn::Sub(w_end, w2), hn::Set(d, l[2])), hn::Set(d, l[2])));
        any = hn::Or(any, hn::And(valid, passes(d, vqx[s], vq2[s], best.score)));
      }
      if (hn::AllFalse(d, any)) continue;
      for (int s = 0; s < 2; ++s) {
        hn::Store(vqx[s], d, qx[s]);
        hn::Store(vq2[s], d, q2[s]);
      }
      const int used = n - j0 + 1 < lanes ? n - j0 + 1 : lanes;
      // Lanes before the first passing one fail against the unchanged best.
      for (int j = static_cast<int>(hn::FindFirstTrue(d, any)); j < used; ++j) {
        for (int s = 0; s < 2; ++s) best.consider(qx[s][j], q2[s][j], i1, j0 + j, signs[s]);
      }
    }
  }
  return best.r;
}

CutResult BestCutsM(const CutsM& in, float initial_scale) {
  constexpr int n = 16;
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  using V = hn::Vec<decltype(d)>;
  const int lanes = static_cast<int>(hn::Lanes(d));
  Best best;
  best.r.scale = initial_scale;
  HWY_ALIGN float qx[4][kMaxLanes], q2[4][kMaxLanes], sc[4][kMaxLanes], sco[4][kMaxLanes];
  for (int i1 = 0; i1 <= n; ++i1) {
    // Per half h, the reference computes
    //   sx = px[h][i1] + px[h][i2];  qx_p = tx*p2 - sx;  qx_m = tx*m2 - sx;
    //   q2_p = tw*p2*p2 + pw[h][i1]*cp1 + pw[h][i2]*cp2 (and _m alike),
    // left to right; everything before the last term depends on i1 only.
    V px1[2], qxp0[2], qxm0[2], q2p0[2], q2m0[2];
    for (int h = 0; h < 2; ++h) {
      px1[h] = hn::Set(d, in.px[h][i1]);
      qxp0[h] = hn::Set(d, in.total_x[h] * in.p2);
      qxm0[h] = hn::Set(d, in.total_x[h] * in.m2);
      q2p0[h] = hn::Set(d, in.total_w[h] * in.p2 * in.p2 + in.pw[h][i1] * in.cp1);
      q2m0[h] = hn::Set(d, in.total_w[h] * in.m2 * in.m2 + in.pw[h][i1] * in.cm1);
    }
    const V cp2 = hn::Set(d, in.cp2), cm2 = hn::Set(d, in.cm2);
    for (int j0 = i1; j0 <= n; j0 += lanes) {
      V qx_p[2], qx_m[2], q2_p[2], q2_m[2];
      for (int h = 0; h < 2; ++h) {
        const V sx = hn::Add(px1[h], hn::LoadU(d, in.px[h] + j0));
        const V pw2 = hn::LoadU(d, in.pw[h] + j0);
        qx_p[h] = hn::Sub(qxp0[h], sx);
        qx_m[h] = hn::Sub(qxm0[h], sx);
        q2_p[h] = hn::Add(q2p0[h], hn::Mul(pw2, cp2));
        q2_m[h] = hn::Add(q2m0[h], hn::Mul(pw2, cm2));
      }
      // Shift pairs in the reference's order: ++, +-, -+, --.
      const V sumqx[4] = {hn::Add(qx_p[0], qx_p[1]), hn::Add(qx_p[0], qx_m[1]), hn::Add(qx_m[0], qx_p[1]),
                          hn::Add(qx_m[0], qx_m[1])};
      const V sumq2[4] = {hn::Add(q2_p[0], q2_p[1]), hn::Add(q2_p[0], q2_m[1]), hn::Add(q2_m[0], q2_p[1]),
                          hn::Add(q2_m[0], q2_m[1])};
      const auto valid = hn::RebindMask(d, hn::Lt(hn::Add(hn::Iota(di, 0), hn::Set(di, j0)), hn::Set(di, n + 1)));
      auto any = hn::And(valid, passes(d, sumqx[0], sumq2[0], best.score));
      for (int k = 1; k < 4; ++k) any = hn::Or(any, hn::And(valid, passes(d, sumqx[k], sumq2[k], best.score)));
      if (hn::AllFalse(d, any)) continue;
      for (int k = 0; k < 4; ++k) {
        hn::Store(sumqx[k], d, qx[k]);
        hn::Store(sumq2[k], d, q2[k]);
        // The division and product an acceptance would do, done ahead for
        // every lane (the same IEEE operations, so the same values).
        const V scale = hn::Div(sumqx[k], sumq2[k]);
        hn::Store(scale, d, sc[k]);
        hn::Store(hn::Mul(scale, sumqx[k]), d, sco[k]);
      }
      const int used = n - j0 + 1 < lanes ? n - j0 + 1 : lanes;
      // Lanes before the first passing one fail against the unchanged best.
      for (int j = static_cast<int>(hn::FindFirstTrue(d, any)); j < used; ++j) {
        for (int k = 0; k < 4; ++k) best.consider(qx[k][j], q2[k][j], sc[k][j], sco[k][j], i1, j0 + j, k);
      }
    }
  }
  return best.r;
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::iq1
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::iq1 {

HWY_EXPORT(BestCutsS);
HWY_EXPORT(BestCutsM);

CutResult best_cuts_s(const float* sumx, const float* sumw, const float* levels_plus, const float* levels_minus,
                      float initial_scale) {
  return HWY_DYNAMIC_DISPATCH(BestCutsS)(sumx, sumw, levels_plus, levels_minus, initial_scale);
}

CutResult best_cuts_m(const CutsM& in, float initial_scale) {
  return HWY_DYNAMIC_DISPATCH(BestCutsM)(in, initial_scale);
}

}  // namespace apex::quant::iq1
#endif  // HWY_ONCE
