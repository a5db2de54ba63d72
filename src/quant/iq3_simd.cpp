// Fast path of the IQ3_XXS / IQ3_S block fit (the reference is fit_block in
// iq3.cpp; this must return the same scale and levels bit for bit).
//
// The reference tries 31 (XXS) or 19 (S) candidate scales one after another,
// but a candidate's levels, grid snapping and sums depend only on its own
// scale, never on earlier candidates: only the final choice is sequential.
// So the candidates are evaluated side by side, one per SIMD lane:
//   1. levels and grid keys of every group for every candidate (lane = one
//      candidate scale; level_of's operations, in its order);
//   2. each (group, candidate) whose key is off the grid is snapped to its
//      nearest candidate point, the distances of a key's candidate points
//      computed one point per lane (the reference's per-point loop over the
//      4 coordinates, in its order; the first strictly smaller distance wins,
//      scanned in list order as the reference does);
//   3. the weighted sums of every candidate (lane = candidate, values added in
//      the reference's order);
//   4. the choice among candidates, in candidate order, and the final
//      re-snap, as scalar code with the reference's operations.
// No fused multiply-add (each product is rounded, as in the reference) and
// no horizontal float sums. Compiled once per instruction set by Highway
// (foreach_target) and picked at run time; a test runs every target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/iq3_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <mutex>

#include "quant/iq3_grids.h"
#include "quant/iq3_internal.h"
#include "quant/rounding.h"
#include "util/check.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::iq3 {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, 16>;
using DI = hn::RebindToSigned<DF>;
using DI8 = hn::Rebind<int8_t, DF>;

constexpr int kMaxSteps = 32;       // 2 * 15 + 1 candidate scales, padded
constexpr int kMaxCandidates = 48;  // longest candidate list (38), padded to 16

// level_of (iq3.cpp) per lane: nearest_int(0.5f * (id * x - 1)) by the same
// add-1.5*2^23 trick, clamped to 0..7.
HWY_INLINE hn::Vec<DI> level_lanes(hn::Vec<DF> id, hn::Vec<DF> x) {
  const DF df;
  const DI di;
  const auto t = hn::Mul(hn::Set(df, 0.5f), hn::Sub(hn::Mul(id, x), hn::Set(df, 1.0f)));
  const auto bits = hn::BitCast(di, hn::Add(t, hn::Set(df, 12582912.0f)));
  const auto l = hn::Sub(hn::And(bits, hn::Set(di, 0x007fffff)), hn::Set(di, 0x00400000));
  return hn::Min(hn::Max(l, hn::Zero(di)), hn::Set(di, kMaxLevel));
}

inline int level_of(float id, float x) {
  const int l = nearest_int(0.5f * (id * x - 1));
  return l < 0 ? 0 : (l > kMaxLevel ? kMaxLevel : l);
}

// The modelled value 2l + 1 of the level in bits 3i..3i+2 of each key.
template <int i>
HWY_INLINE hn::Vec<DF> value_lanes(hn::Vec<DI> keys) {
  const DF df;
  const DI di;
  const auto l = hn::And(hn::ShiftRight<3 * i>(keys), hn::Set(di, 7));
  return hn::ConvertTo(df, hn::Add(hn::Add(l, l), hn::Set(di, 1)));
}

// snap_to_grid's choice for an off-grid key: the first of the key's candidate
// points with the least weighted squared error at `scale`.
HWY_INLINE int nearest_point(const SearchTables& t, const SnapTables& st, int key, const float* xval, const float* w,
                  float scale) {
  const DF df;
  const DI di;
  const DI8 d8;
  const int n = static_cast<int>(hn::Lanes(df));
  const int count = t.count[key];
  const int stride = st.stride[key];
  const int8_t* q = st.q.data() + st.at[key];
  HWY_ALIGN float d2s[kMaxCandidates];
  const auto s = hn::Set(df, scale);
  // Distances the reference can never pick (not below its FLT_MAX start:
  // FLT_MAX, inf, NaN) and padding lanes become +inf; min is exact and order
  // independent on the rest, and the first lane equal to it is the one the
  // reference's strict `<` scan in list order keeps.
  const auto limit = hn::Set(df, FLT_MAX);
  const auto inf = hn::Set(df, HUGE_VALF);
  auto least = inf;
  for (int c = 0; c < count; c += n) {
    auto d2 = hn::Zero(df);
    for (int i = 0; i < 4; ++i) {
      const auto qi = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, q + i * stride + c)));
      const auto diff = hn::Sub(hn::Mul(s, qi), hn::Set(df, xval[i]));
      d2 = hn::Add(d2, hn::Mul(hn::Mul(hn::Set(df, w[i]), diff), diff));
    }
    const auto valid = hn::And(hn::Lt(d2, limit), hn::FirstN(df, static_cast<size_t>(count - c)));
    d2 = hn::IfThenElse(valid, d2, inf);
    hn::Store(d2, df, d2s + c);
    least = hn::Min(least, d2);
  }
  least = hn::MinOfLanes(df, least);
  // As the reference: no finite distance (absurd inputs) takes the first.
  int best = 0;
  if (hn::GetLane(least) < FLT_MAX) {
    for (int c = 0; c < count; c += n) {
      const intptr_t lane = hn::FindFirstTrue(df, hn::Eq(hn::Load(df, d2s + c), least));
      if (lane >= 0) {
        best = c + static_cast<int>(lane);
        break;
      }
    }
  }
  return t.candidates[t.first[key] + best];
}

float FitBlockFast(const Variant& v, const SearchTables& t, const float* xval, const float* weight,
                   const float* waux, float max, int8_t* L) {
  const DF df;
  const DI di;
  const int n = static_cast<int>(hn::Lanes(df));
  const SnapTables& st = snap_tables(v.grid);
  const auto keys_of_points = grid_keys(v.grid);
  const int n_steps = 2 * v.half_range + 1;

  // Candidate s is the reference's step s - half_range; lanes past the last
  // repeat candidate 0 and are never read back.
  HWY_ALIGN float ids[kMaxSteps];
  float trial_scale[kMaxSteps];
  for (int s = 0; s < kMaxSteps; ++s) {
    const int step = s < n_steps ? s - v.half_range : -v.half_range;
    ids[s] = (15.0f + static_cast<float>(step) * 0.2f) / max;
    trial_scale[s] = 1 / ids[s];
  }

  // 1. Keys of the rounded levels: key[k][s] for group k, candidate s.
  HWY_ALIGN int32_t key[kGroups][kMaxSteps];
  for (int s0 = 0; s0 < n_steps; s0 += n) {
    const auto id = hn::Load(df, ids + s0);
    for (int k = 0; k < kGroups; ++k) {
      const float* x = xval + 4 * k;
      auto kv = level_lanes(id, hn::Set(df, x[0]));
      kv = hn::Or(kv, hn::ShiftLeft<3>(level_lanes(id, hn::Set(df, x[1]))));
      kv = hn::Or(kv, hn::ShiftLeft<6>(level_lanes(id, hn::Set(df, x[2]))));
      kv = hn::Or(kv, hn::ShiftLeft<9>(level_lanes(id, hn::Set(df, x[3]))));
      hn::Store(kv, di, key[k] + s0);
    }
  }

  // 2. Snap: the key of the grid point each group becomes, and whether it
  // was on the grid already.
  HWY_ALIGN int32_t snapped[kGroups][kMaxSteps] = {};
  bool was_on_grid[kGroups][kMaxSteps];
  for (int k = 0; k < kGroups; ++k) {
    for (int s = 0; s < n_steps; ++s) {
      const int kk = key[k][s];
      const bool on = t.point_of[kk] >= 0;
      was_on_grid[k][s] = on;
      snapped[k][s] =
          on ? kk : keys_of_points[nearest_point(t, st, kk, xval + 4 * k, waux + 4 * k, trial_scale[s])];
    }
  }

  // 3. Moments of every candidate: sum w x q and sum w q^2, q = 2l + 1,
  // values in the reference's order.
  HWY_ALIGN float sumqx[kMaxSteps];
  HWY_ALIGN float sumq2[kMaxSteps];
  for (int s0 = 0; s0 < n_steps; s0 += n) {
    auto sx = hn::Zero(df);
    auto s2 = hn::Zero(df);
    for (int k = 0; k < kGroups; ++k) {
      const auto kv = hn::Load(di, snapped[k] + s0);
      const hn::Vec<DF> q[4] = {value_lanes<0>(kv), value_lanes<1>(kv), value_lanes<2>(kv), value_lanes<3>(kv)};
      for (int i = 0; i < 4; ++i) {
        const auto w = hn::Set(df, weight[4 * k + i]);
        sx = hn::Add(sx, hn::Mul(hn::Mul(w, hn::Set(df, xval[4 * k + i])), q[i]));
        s2 = hn::Add(s2, hn::Mul(hn::Mul(w, q[i]), q[i]));
      }
    }
    hn::Store(sx, df, sumqx + s0);
    hn::Store(s2, df, sumq2 + s0);
  }

  // 4. The reference's choice, in candidate order.
  float scale = max / (2 * kMaxLevel + 1);
  float best = 0;
  int chosen = -1;
  for (int s = 0; s < n_steps; ++s) {
    if (sumq2[s] > 0 && sumqx[s] * sumqx[s] > best * sumq2[s]) {
      scale = sumqx[s] / sumq2[s];
      best = scale * sumqx[s];
      chosen = s;
    }
  }
  bool on_grid[kGroups];
  for (int k = 0; k < kGroups; ++k) {
    on_grid[k] = chosen < 0 ? v.start_on_grid : was_on_grid[k][chosen];
    for (int i = 0; i < 4; ++i) L[4 * k + i] = chosen < 0 ? 0 : static_cast<int8_t>((snapped[k][chosen] >> 3 * i) & 7);
  }

  bool any_off_grid = false;
  for (bool g : on_grid) any_off_grid |= !g;
  if (any_off_grid && scale > 0) {
    const float id = 1 / scale;
    for (int k = 0; k < kGroups; ++k) {
      if (on_grid[k] && !v.resnap_every_group) continue;
      int8_t* Lk = L + 4 * k;
      for (int i = 0; i < 4; ++i) Lk[i] = static_cast<int8_t>(level_of(id, xval[4 * k + i]));
      const int kk = Lk[0] | Lk[1] << 3 | Lk[2] << 6 | Lk[3] << 9;
      if (t.point_of[kk] >= 0) continue;
      const int p = nearest_point(t, st, kk, xval + 4 * k, waux + 4 * k, scale);
      for (int i = 0; i < 4; ++i) Lk[i] = t.levels[4 * p + i];
    }
    float sx = 0, s2 = 0;
    for (int i = 0; i < kBlock; ++i) {
      const float q = static_cast<float>(2 * L[i] + 1);
      sx += weight[i] * xval[i] * q;
      s2 += weight[i] * q * q;
    }
    if (s2 > 0) scale = sx / s2;
  }
  return scale;
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::iq3
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::iq3 {

HWY_EXPORT(FitBlockFast);
HWY_EXPORT(TargetName);

float fit_block_fast(const Variant& v, const SearchTables& t, const float* xval, const float* weight,
                     const float* waux, float max, int8_t* L) {
  return HWY_DYNAMIC_DISPATCH(FitBlockFast)(v, t, xval, weight, waux, max, L);
}

const char* simd_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

namespace {

SnapTables build_snap_tables(const SearchTables& t) {
  constexpr int kWidest = 16;
  SnapTables st;
  st.at.assign(kKeyLimit, 0);
  st.stride.assign(kKeyLimit, 0);
  for (int key = 0; key < kKeyLimit; ++key) {
    if (t.point_of[key] >= 0) continue;
    const int count = t.count[key];
    const int stride = (count + kWidest - 1) / kWidest * kWidest;
    APEX_CHECK(stride <= 48, "iq3: key {} has {} candidates, more than nearest_point's buffer", key, count);
    st.at[key] = static_cast<uint32_t>(st.q.size());
    st.stride[key] = static_cast<uint16_t>(stride);
    st.q.resize(st.q.size() + 4 * static_cast<size_t>(stride));
    int8_t* q = st.q.data() + st.at[key];
    for (int i = 0; i < 4; ++i) {
      for (int c = 0; c < stride; ++c) {
        const int p = t.candidates[t.first[key] + (c < count ? c : 0)];
        q[i * stride + c] = static_cast<int8_t>(2 * t.levels[4 * p + i] + 1);
      }
    }
  }
  return st;
}

}  // namespace

const SnapTables& snap_tables(Grid g) {
  static std::once_flag once[2];
  static SnapTables tables[2];
  const int i = g == Grid::kXXS ? 0 : 1;
  std::call_once(once[i], [&] { tables[i] = build_snap_tables(search_tables(g)); });
  return tables[i];
}

}  // namespace apex::quant::iq3
#endif  // HWY_ONCE
