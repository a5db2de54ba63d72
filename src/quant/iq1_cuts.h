// The IQ1 cut-point searches, fast form (Highway SIMD, iq1_cuts_simd.cpp).
//
// IQ1_S and IQ1_M pick a block's codes by trying every pair of cut points
// (i1 <= i2) in value order and keeping the best weighted fit; the reference
// (iq1.cpp) walks the pairs in order and accepts a candidate when
//   sumq2 > 0 && sumqx * sumqx > best * sumq2,
// then sets scale = sumqx / sumq2 and best = scale * sumqx. Because `best`
// changes on each acceptance the scan is sequential; it is not a plain
// argmax, and rounding makes it differ from one at the margins.
//
// The fast form keeps that rule exactly: one SIMD lane computes one i2's
// sums with the reference's expressions (lane-wise, no fused multiply-add,
// same operand order), and a chunk of lanes is tested against the current
// best all at once. A chunk where no lane passes cannot change anything and
// is skipped; this is what the reference would conclude too, since `best`
// stays fixed while nothing is accepted. A chunk where some lane passes is
// replayed in the reference's order, lane by lane, on the stored sums, from
// the first passing lane (the lanes before it fail against the unchanged
// best, as they would in the reference), so every acceptance and every later
// test happen as in the reference. The division and product an acceptance
// performs are computed for every lane ahead of the replay (lane-wise, the
// same values).
#pragma once

namespace apex::quant::iq1 {

// Result of a cut search: scale, cuts and the choice (IQ1_S: shift sign
// +1/-1; IQ1_M: shift pair 0..3); cut1 = -1 when nothing was accepted, in
// which case scale keeps the initial value passed in.
struct CutResult {
  float scale;
  int cut1 = -1;
  int cut2 = -1;
  int choice = -1;
};

// Prefix arrays are padded: entries past the block size must be readable
// (kCutPad floats each) but their values do not matter.
constexpr int kCutPad = 48;

// IQ1_S (32 values): sumx/sumw are the prefix sums over the sorted block
// (index 0..32), levels_plus / levels_minus the three levels of each sign.
CutResult best_cuts_s(const float* sumx, const float* sumw, const float* levels_plus, const float* levels_minus,
                      float initial_scale);

// IQ1_M (16 values): px/pw are the per-half prefix sums (index 0..16) and
// the constants the reference derives from the levels.
struct CutsM {
  const float* px[2];
  const float* pw[2];
  float total_x[2], total_w[2];
  float p2, m2, cp1, cp2, cm1, cm2;
};
CutResult best_cuts_m(const CutsM& in, float initial_scale);

}  // namespace apex::quant::iq1
