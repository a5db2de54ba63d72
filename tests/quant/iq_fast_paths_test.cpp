// The fast paths of IQ4_NL, IQ4_XS, IQ3_XXS and IQ3_S against their scalar
// references, byte for byte, on every Highway target this CPU has: many
// random seeds and value shapes (including NaN, infinity, huge, tiny and
// subnormal values, exact level midpoints), several row lengths, and
// importance vectors with zeros. The references themselves are proven equal
// to the oracle elsewhere (oracle_bytes_test, iq3_test); this test reaches
// branches of the fast paths that those row families might not.
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/iq3.h"
#include "quant/iq4.h"
#include "quant/iq4_internal.h"

namespace apex::quant {
namespace {

using QuantizeFn = size_t (*)(const float*, void*, int64_t, int64_t, const float*);

struct Format {
  const char* name;
  int64_t block;
  size_t block_bytes;
  QuantizeFn fast;
  QuantizeFn ref;
};
const Format kFormats[] = {
    {"IQ4_NL", 32, 18, quantize_iq4_nl, quantize_iq4_nl_ref},
    {"IQ4_XS", 256, 136, quantize_iq4_xs, quantize_iq4_xs_ref},
    {"IQ3_XXS", 256, 98, quantize_iq3_xxs, quantize_iq3_xxs_ref},
    {"IQ3_S", 256, 110, quantize_iq3_s, quantize_iq3_s_ref},
};

template <typename Fn>
void for_each_target(Fn fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

// n values; each 32-value block takes one shape, so blocks of every kind sit
// side by side in a super-block.
std::vector<float> random_values(int64_t n, std::mt19937& rng, bool non_finite) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, non_finite ? 11 : 9);
  std::uniform_int_distribution<int> exponent(-140, 120);
  std::vector<float> v(n);
  for (int64_t b = 0; b < n; b += 32) {
    const int shape = pick(rng);
    const float scale = std::ldexp(1.0f, exponent(rng));
    for (int64_t i = b; i < b + 32 && i < n; ++i) {
      float x = normal(rng);
      switch (shape) {
        case 0: x *= 0.02f; break;
        case 1: x *= scale; break;                                      // any magnitude
        case 2: x = 0; break;                                           // empty block
        case 3: x = i % 7 == 0 ? 0.f : x; break;                        // some zeros
        case 4: x = std::round(8 * x); break;                           // integers: ties
        case 5: x = (i % 32 == 3) ? 30 * x : 0.001f * x; break;         // one spike
        case 6: x = std::fabs(x) + 0.1f; break;                         // all positive
        case 7: x = 1e-16f * x; break;                                  // below the tiny limit
        case 8: x = std::numeric_limits<float>::denorm_min() * std::round(1000 * x); break;
        case 9: x = (i % 2 ? 1.f : -1.f) * 1e30f * x; break;            // squares overflow
        case 10: x = (i % 11 == 0) ? std::numeric_limits<float>::quiet_NaN() : x; break;
        case 11: x = (i % 13 == 0) ? (x > 0 ? 1.f : -1.f) * std::numeric_limits<float>::infinity() : x; break;
      }
      v[i] = x;
    }
  }
  return v;
}

std::vector<float> random_importance(int64_t n, std::mt19937& rng) {
  std::lognormal_distribution<float> lognormal(0.0f, 1.5f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<float> w(n);
  for (auto& v : w) v = uni(rng) < 0.1f ? 0.0f : lognormal(rng);
  // Whole 32-value blocks of zero importance: every candidate's sums are 0,
  // so no candidate scale is ever accepted (the searches' fallback branch).
  for (int64_t b = 0; b < n; b += 32) {
    if (uni(rng) < 0.15f) std::fill(w.begin() + b, w.begin() + b + 32, 0.0f);
  }
  return w;
}

void expect_fast_equals_ref(const Format& f, const std::vector<float>& x, int64_t nrows, int64_t n_per_row,
                            const float* imatrix, const std::string& what) {
  const size_t bytes = static_cast<size_t>(nrows * (n_per_row / f.block)) * f.block_bytes;
  std::vector<uint8_t> fast(bytes, 0xAB), ref(bytes, 0xCD);
  ASSERT_EQ(f.fast(x.data(), fast.data(), nrows, n_per_row, imatrix), bytes);
  ASSERT_EQ(f.ref(x.data(), ref.data(), nrows, n_per_row, imatrix), bytes);
  for (size_t i = 0; i < bytes; ++i) {
    ASSERT_EQ(fast[i], ref[i]) << f.name << " " << what << ": byte " << i << " (block " << i / f.block_bytes
                               << ", offset " << i % f.block_bytes << ")";
  }
}

void run_random(const Format& f, int seeds, bool non_finite) {
  for (int seed = 0; seed < seeds; ++seed) {
    std::mt19937 rng(1000 + seed);
    for (int64_t n_per_row : {f.block, f.block * 2, int64_t{1024}}) {
      const int64_t nrows = 2;
      const auto x = random_values(nrows * n_per_row, rng, non_finite);
      const auto w = random_importance(n_per_row, rng);
      const std::string what = "seed " + std::to_string(seed) + " row " + std::to_string(n_per_row);
      expect_fast_equals_ref(f, x, nrows, n_per_row, nullptr, what + " no imatrix");
      expect_fast_equals_ref(f, x, nrows, n_per_row, w.data(), what + " imatrix");
    }
  }
}

// The thresholds reproduce nearest_level for every float from 1 to 256 in
// magnitude (every threshold lies there: the levels span -127..113), and
// for any float below 1 in magnitude the answer is level 8 (value 1), which
// the thresholds give as well since t[8] < -1 < 1 < t[9].
TEST(Iq4FastPath, ThresholdsGiveNearestLevelForEveryFloat) {
  const float* t = iq4::level_thresholds();
  for (int k = 2; k < 16; ++k) ASSERT_LT(t[k - 1], t[k]);
  ASSERT_LT(t[8], -1.0f);
  ASSERT_GT(t[9], 1.0f);
  auto by_thresholds = [&](float v) {
    int l = 0;
    for (int k = 1; k < 16; ++k) l += t[k] <= v;
    return l;
  };
  int64_t mismatches = 0;
  for (uint32_t bits = std::bit_cast<uint32_t>(1.0f); bits < std::bit_cast<uint32_t>(256.0f); ++bits) {
    for (float v : {std::bit_cast<float>(bits), -std::bit_cast<float>(bits)}) {
      if (by_thresholds(v) != iq4::nearest_level(v) && ++mismatches < 5) ADD_FAILURE() << "at " << v;
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(iq4::nearest_level(std::numeric_limits<float>::quiet_NaN()), 15);
}

TEST(IqFastPaths, RandomRowsEqualReference) {
  for (const Format& f : kFormats) {
    SCOPED_TRACE(f.name);
    const int seeds = f.block == 32 ? 40 : 12;
    for_each_target([&] { run_random(f, seeds, /*non_finite=*/false); });
  }
}

TEST(IqFastPaths, NonFiniteRowsEqualReference) {
  for (const Format& f : kFormats) {
    SCOPED_TRACE(f.name);
    for_each_target([&] { run_random(f, 4, /*non_finite=*/true); });
  }
}

}  // namespace
}  // namespace apex::quant
