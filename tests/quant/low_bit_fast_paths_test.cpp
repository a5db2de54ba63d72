// The fast paths of TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0 and Q2_0 against their
// scalar references, byte for byte, on every Highway target this CPU has:
// many random seeds and value shapes (NaN, infinity, values near FLT_MAX,
// subnormal and all-subnormal blocks, exact rounding ties and E2M1 level
// midpoints, zeros of both signs), runs of one shape from 8 to 512 values
// (so whole blocks and whole rows can be degenerate), and block counts that
// are not multiples of the kernels' interleaving. The references themselves
// are proven equal to the oracle in oracle_bytes_test.
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "quant/fp4.h"
#include "quant/q_low.h"
#include "quant/ternary.h"

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
void PrintTo(const Format& f, std::ostream* os) { *os << f.name; }

const Format kFormats[] = {
    {"TQ1_0", 256, 54, quantize_tq1_0, quantize_tq1_0_ref},
    {"TQ2_0", 256, 66, quantize_tq2_0, quantize_tq2_0_ref},
    {"MXFP4", 32, 17, quantize_mxfp4, quantize_mxfp4_ref},
    {"NVFP4", 64, 36, quantize_nvfp4, quantize_nvfp4_ref},
    {"Q1_0", 128, 18, quantize_q1_0, quantize_q1_0_ref},
    {"Q2_0", 64, 18, quantize_q2_0, quantize_q2_0_ref},
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

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kDenormMin = std::numeric_limits<float>::denorm_min();

// n values in runs of 8..512 values, each run of one shape.
std::vector<float> random_values(int64_t n, std::mt19937& rng, bool non_finite) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, non_finite ? 16 : 12);
  std::uniform_int_distribution<int> run_log2(3, 9);
  std::uniform_int_distribution<int> exponent(-150, 127);
  std::uniform_int_distribution<int> small_int(-12, 12);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t b = 0; b < n;) {
    const int64_t run = int64_t{1} << run_log2(rng);
    const int shape = pick(rng);
    const float scale = std::ldexp(1.0f, exponent(rng));
    const float step = std::ldexp(1.0f, std::uniform_int_distribution<int>(-20, 20)(rng));
    for (int64_t i = b; i < b + run && i < n; ++i) {
      float x = normal(rng);
      switch (shape) {
        case 0: x *= 0.02f; break;                                        // weights
        case 1: x *= scale; break;                                        // any magnitude
        case 2: x = uni(rng) < 0.5f ? 0.0f : -0.0f; break;                // zeros of both signs
        case 3: x = step * 0.5f * static_cast<float>(small_int(rng)); break;  // ties, level midpoints
        case 4: x = step * 0.25f * static_cast<float>(small_int(rng)); break;
        case 5: x = (i % 37 == 3) ? 30 * x : 0.001f * x; break;           // spikes
        case 6: x = std::fabs(x) + 0.1f; break;                           // all positive
        case 7: x = kDenormMin * std::round(1000 * x); break;             // subnormal
        case 8: x = kDenormMin * static_cast<float>(small_int(rng)); break;  // tiny subnormal
        case 9: x = 3.0e38f * std::tanh(x); break;                        // near FLT_MAX
        case 10: x = std::ldexp(1.0f, std::uniform_int_distribution<int>(-30, 30)(rng)) *
                     (uni(rng) < 0.5f ? -1.0f : 1.0f) * (1.0f - std::ldexp(uni(rng), -22));
          break;  // just below powers of two: floor(log2) boundaries
        case 11: x = 1e-38f * x; break;                                   // reciprocal near overflow
        case 12: x = static_cast<float>(small_int(rng)); break;           // integers
        case 13: x = (i % 11 == 0) ? kNaN : x; break;
        case 14: x = (i % 13 == 0) ? (x > 0 ? kInf : -kInf) : x; break;
        case 15: x = uni(rng) < 0.5f ? kNaN : (uni(rng) < 0.5f ? kInf : -kInf); break;
        case 16: x = (i % 5 == 0) ? kNaN : kDenormMin * std::round(100 * x); break;
      }
      v[static_cast<size_t>(i)] = x;
    }
    b += run;
  }
  return v;
}

void expect_fast_equals_ref(const Format& f, const std::vector<float>& x, int64_t nrows, int64_t n_per_row,
                            const std::string& what) {
  const size_t bytes = static_cast<size_t>(nrows * (n_per_row / f.block)) * f.block_bytes;
  std::vector<uint8_t> fast(bytes, 0xAB), ref(bytes, 0xCD);
  ASSERT_EQ(f.fast(x.data(), fast.data(), nrows, n_per_row, nullptr), bytes);
  ASSERT_EQ(f.ref(x.data(), ref.data(), nrows, n_per_row, nullptr), bytes);
  for (size_t i = 0; i < bytes; ++i) {
    ASSERT_EQ(fast[i], ref[i]) << f.name << " " << what << ": byte " << i << " (block " << i / f.block_bytes
                               << ", offset " << i % f.block_bytes << ")";
  }
}

void run_random(const Format& f, int seeds, bool non_finite) {
  for (int seed = 0; seed < seeds; ++seed) {
    std::mt19937 rng(7000 + seed);
    for (int64_t blocks : {1, 2, 3, 7, 8, 9, 17, 40}) {
      const int64_t n_per_row = f.block * blocks;
      const int64_t nrows = 1 + seed % 3;
      const auto x = random_values(nrows * n_per_row, rng, non_finite);
      expect_fast_equals_ref(f, x, nrows, n_per_row,
                             "seed " + std::to_string(seed) + " row " + std::to_string(n_per_row));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

class LowBitFastPath : public ::testing::TestWithParam<Format> {};

TEST_P(LowBitFastPath, EqualsReferenceOnFiniteValues) {
  for_each_target([&] { run_random(GetParam(), 60, false); });
}

TEST_P(LowBitFastPath, EqualsReferenceWithNanAndInfinity) {
  for_each_target([&] { run_random(GetParam(), 60, true); });
}

// Whole blocks of one special value, and every special value beside others.
TEST_P(LowBitFastPath, EqualsReferenceOnUniformSpecialBlocks) {
  const Format& f = GetParam();
  const float specials[] = {0.0f, -0.0f, kNaN, -kNaN, kInf, -kInf, kDenormMin, -kDenormMin,
                            std::numeric_limits<float>::min(), std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(), 1.0f, -1.0f, 0.5f, 6.0f};
  for_each_target([&] {
    for (float a : specials) {
      for (float b : specials) {
        std::vector<float> x(static_cast<size_t>(f.block * 3), a);
        for (int64_t i = f.block; i < 2 * f.block; ++i) x[static_cast<size_t>(i)] = i % 3 == 0 ? b : a;
        x[static_cast<size_t>(2 * f.block + 5)] = b;
        expect_fast_equals_ref(f, x, 1, f.block * 3, std::to_string(a) + " / " + std::to_string(b));
        if (HasFatalFailure()) return;
      }
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Formats, LowBitFastPath, ::testing::ValuesIn(kFormats),
                         [](const ::testing::TestParamInfo<Format>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace apex::quant
