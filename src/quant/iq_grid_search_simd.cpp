// SIMD candidate search for the IQ1/IQ2 fast paths (see iq_grid_search.h).
//
// One lane scores one candidate: its error starts at 0 and adds the term of
// coordinate 0, then 1, ... 7, a lane-wise IEEE add of the same floats the
// reference adds, so every lane's error equals the reference's bit for bit.
// Each lane keeps its own running best with the reference's strict `<` (so
// within a lane the earlier candidate wins ties), and the final reduction
// takes the least value over lanes, the smallest position among equal ones:
// together the first minimum of the whole list, which is what the
// reference's scan keeps. NaN never compares less, so it never wins, and the
// running best starts at FLT_MAX as in the reference.
//
// Compiled once per instruction set by Highway (foreach_target) and picked
// at run time; a test runs every compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/iq_grid_search_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cfloat>
#include <cstdint>

#include "quant/iq_grid_search.h"

HWY_BEFORE_NAMESPACE();
namespace apex::quant::iq_grid {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The term of each lane's code (0..2) from one coordinate's row of Terms.
template <class D, class VI>
HWY_INLINE hn::Vec<D> lookup_term(D d, const float* row, VI code) {
#if HWY_TARGET == HWY_SCALAR
  const hn::RebindToSigned<D> di;
  const auto is1 = hn::RebindMask(d, hn::Eq(code, hn::Set(di, 1)));
  const auto is2 = hn::RebindMask(d, hn::Eq(code, hn::Set(di, 2)));
  return hn::IfThenElse(is2, hn::Set(d, row[2]), hn::IfThenElse(is1, hn::Set(d, row[1]), hn::Set(d, row[0])));
#else
  // The row's 4 floats fill the first 128 bits; codes index only those.
  return hn::TableLookupLanes(hn::LoadDup128(d, row), hn::IndicesFromVec(d, code));
#endif
}

int FirstBest(const Terms& terms, const uint16_t* keys, int n) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<uint16_t, decltype(d)> d16;
  using V = hn::Vec<decltype(d)>;
  const int lanes = static_cast<int>(hn::Lanes(d));
  if (lanes > kListPad) return first_best_scalar(terms, keys, n);  // lists are padded for at most kListPad

  const auto three = hn::Set(di, 3);
  const V max = hn::Set(d, FLT_MAX);
  const auto end = hn::Set(di, n);
  // The errors of candidates j .. j + lanes - 1.
  auto errors = [&](int j) {
    auto key = hn::BitCast(di, hn::PromoteTo(hn::RebindToUnsigned<decltype(d)>(), hn::LoadU(d16, keys + j)));
    V d2 = hn::Zero(d);
    for (int i = 0; i < 8; ++i) {
      d2 = hn::Add(d2, lookup_term(d, terms.v[i], hn::And(key, three)));
      key = hn::ShiftRight<2>(key);
    }
    return d2;
  };
  if (n <= lanes) {
    // One vector: lanes are positions. Only lanes below n with an error
    // below FLT_MAX can win (NaN fails the compare); the others are set to
    // FLT_MAX, so every lane is a number and the least is the minimum.
    const V d2 = errors(0);
    const auto ok = hn::And(hn::Lt(d2, max), hn::RebindMask(d, hn::Lt(hn::Iota(di, 0), end)));
    const V v = hn::IfThenElse(ok, d2, max);
    const V least = hn::MinOfLanes(d, v);
    if (!(hn::GetLane(least) < FLT_MAX)) return -1;
    return static_cast<int>(hn::FindFirstTrue(d, hn::Eq(v, least)));
  }
  V best = max;
  auto best_pos = hn::Set(di, -1);
  auto pos = hn::Iota(di, 0);
  const auto step = hn::Set(di, lanes);
  for (int j = 0; j < n; j += lanes) {
    const V d2 = errors(j);
    // Lanes past n (the padding) never count.
    const auto better = hn::And(hn::Lt(d2, best), hn::RebindMask(d, hn::Lt(pos, end)));
    best = hn::IfThenElse(better, d2, best);
    best_pos = hn::IfThenElse(hn::RebindMask(di, better), pos, best_pos);
    pos = hn::Add(pos, step);
  }
  // First minimum over lanes: the least value, then the least position
  // holding it (MinOfLanes only compares, so values are not altered; -0 and
  // +0 are equal to Eq as they are to the reference's `<`). A lane that
  // took a candidate holds less than FLT_MAX; none did if the least is FLT_MAX.
  const V least = hn::MinOfLanes(d, best);
  if (!(hn::GetLane(least) < FLT_MAX)) return -1;
  const auto at_least = hn::RebindMask(di, hn::Eq(best, least));
  return hn::GetLane(hn::MinOfLanes(di, hn::IfThenElse(at_least, best_pos, hn::Set(di, INT32_MAX))));
}

}  // namespace HWY_NAMESPACE
}  // namespace apex::quant::iq_grid
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace apex::quant::iq_grid {

HWY_EXPORT(FirstBest);

int first_best(const Terms& terms, const uint16_t* keys, int n) {
  return HWY_DYNAMIC_DISPATCH(FirstBest)(terms, keys, n);
}

int first_best_scalar(const Terms& terms, const uint16_t* keys, int n) {
  float best = FLT_MAX;
  int found = -1;
  for (int c = 0; c < n; ++c) {
    float d2 = 0;
    for (int i = 0; i < 8; ++i) d2 += terms.v[i][(keys[c] >> (2 * i)) & 3];
    if (d2 < best) {
      best = d2;
      found = c;
    }
  }
  return found;
}

PaddedLists pad_lists(const std::vector<uint32_t>& first, const std::vector<uint16_t>& count,
                      const std::vector<uint16_t>& candidates, std::span<const uint16_t> point_keys) {
  PaddedLists out;
  out.first.assign(first.size(), 0);
  for (size_t key = 0; key < first.size(); ++key) {
    const int n = count[key];
    if (n == 0) continue;
    out.first[key] = static_cast<uint32_t>(out.keys.size());
    const int padded = (n + kListPad - 1) / kListPad * kListPad;
    for (int c = 0; c < padded; ++c) {
      const uint16_t point = candidates[first[key] + (c < n ? c : n - 1)];
      out.points.push_back(point);
      out.keys.push_back(point_keys[point]);
    }
  }
  return out;
}

}  // namespace apex::quant::iq_grid
#endif  // HWY_ONCE
