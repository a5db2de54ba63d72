// The fast paths of the lowest-bit i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S,
// IQ1_M) against their scalar references, byte for byte, on every Highway
// target this machine can run: many seeds, row lengths, value families
// (zeros, ties, subnormals, 1e30, spikes) and importance vectors (exact
// zeros, heavy tails, negative entries). The oracle comparison lives in
// iq1_test.cpp / iq2_test.cpp; this file covers the fast paths' own branches
// (SIMD lane counts and padding, the candidate search's tie and NaN rules,
// the sort shortcut and the filtered cut search).
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/iq1.h"
#include "quant/iq2.h"
#include "quant/iq_grid_search.h"
#include "test_rows.h"

namespace apex::quant {
namespace {

using QuantizeFn = size_t (*)(const float*, void*, int64_t, int64_t, const float*);

struct Format {
  const char* name;
  QuantizeFn fast;
  QuantizeFn ref;
  size_t block_bytes;
  bool needs_imatrix;  // the reference refuses a null imatrix
};

const Format kFormats[] = {
    {"IQ2_XXS", quantize_iq2_xxs, quantize_iq2_xxs_ref, 66, true},
    {"IQ2_XS", quantize_iq2_xs, quantize_iq2_xs_ref, 74, true},
    {"IQ2_S", quantize_iq2_s, quantize_iq2_s_ref, 82, false},
    {"IQ1_S", quantize_iq1_s, quantize_iq1_s_ref, 50, false},
    {"IQ1_M", quantize_iq1_m, quantize_iq1_m_ref, 56, false},
};

// Importance vectors beyond test_rows.h's: negative entries (the references
// mirror negative fits), a few huge ones, all zero.
std::vector<testing::ImatrixFamily> importance_families(int64_t n, uint32_t seed) {
  auto out = testing::imatrix_families(n, seed);
  std::mt19937 rng(seed + 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  testing::ImatrixFamily mixed{"signed_heavy", std::vector<float>(n)};
  for (auto& w : mixed.weights) w = uni(rng) < 0.02f ? 1e6f * uni(rng) : normal(rng);
  out.push_back(std::move(mixed));
  out.push_back({"all_zero", std::vector<float>(n, 0.0f)});
  return out;
}

// Rows with many exactly equal values inside a block (the IQ1 sort's ties),
// values a few ulps apart, and +-0.
std::vector<testing::RowFamily> extra_rows(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> small(-3, 3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<testing::RowFamily> out;
  testing::RowFamily ties{"few_levels", std::vector<float>(n)};
  for (auto& v : ties.data) v = 0.25f * static_cast<float>(small(rng));
  out.push_back(std::move(ties));
  testing::RowFamily ulps{"near_ties", std::vector<float>(n)};
  for (auto& v : ulps.data) v = std::nextafter(1.0f, 2.0f * static_cast<float>(small(rng)));
  out.push_back(std::move(ulps));
  testing::RowFamily zeros{"signed_zeros", std::vector<float>(n)};
  for (size_t i = 0; i < zeros.data.size(); ++i) zeros.data[i] = i % 5 == 0 ? normal(rng) : (i % 2 ? -0.0f : 0.0f);
  out.push_back(std::move(zeros));
  testing::RowFamily nan_block{"one_nan", std::vector<float>(n)};
  for (auto& v : nan_block.data) v = normal(rng);
  nan_block.data[n / 3] = std::numeric_limits<float>::quiet_NaN();
  out.push_back(std::move(nan_block));
  return out;
}

std::string first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, size_t block_bytes) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return "block " + std::to_string(i / block_bytes) + " byte " + std::to_string(i % block_bytes);
  }
  return "";
}

class IqLowFastPaths : public ::testing::TestWithParam<int> {};

TEST_P(IqLowFastPaths, EqualsReferenceOnEverySimdTarget) {
  const Format& f = kFormats[GetParam()];
  int compared = 0;
  for (const int64_t n_per_row : {256, 768, 2816}) {
    const int64_t nrows = 2;
    const uint32_t seed = 11u + static_cast<uint32_t>(n_per_row);
    auto rows = testing::row_families(n_per_row, nrows, seed);
    for (auto& r : extra_rows(n_per_row * nrows, seed + 5)) rows.push_back(std::move(r));
    const auto imats = importance_families(n_per_row, seed + 9);
    const size_t nbytes = static_cast<size_t>(nrows * (n_per_row / 256)) * f.block_bytes;
    for (const auto& rf : rows) {
      for (const auto& im : imats) {
        if (im.weights.empty() && f.needs_imatrix) continue;
        const float* qw = im.weights.empty() ? nullptr : im.weights.data();
        std::vector<uint8_t> ref(nbytes);
        ASSERT_EQ(f.ref(rf.data.data(), ref.data(), nrows, n_per_row, qw), nbytes);
        for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
          hwy::SetSupportedTargetsForTest(target);
          std::vector<uint8_t> fast(nbytes, 0xa5);
          const size_t written = f.fast(rf.data.data(), fast.data(), nrows, n_per_row, qw);
          hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
          ASSERT_EQ(written, nbytes);
          ASSERT_EQ(first_difference(fast, ref, f.block_bytes), "")
              << f.name << " rows " << rf.name << " imatrix " << im.name << " n_per_row " << n_per_row
              << " target " << hwy::TargetName(target);
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 100);
}

// Weight-like rows (the benchmark's shape) over many seeds, on the machine's
// best target.
TEST_P(IqLowFastPaths, EqualsReferenceOnManySeeds) {
  const Format& f = kFormats[GetParam()];
  const int64_t n_per_row = 1024, nrows = 3;
  for (uint32_t seed = 0; seed < 12; ++seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::lognormal_distribution<float> lognormal(0.0f, 1.0f + 0.25f * static_cast<float>(seed % 4));
    std::vector<float> x(n_per_row * nrows), w(n_per_row);
    for (auto& v : x) v = 0.02f * normal(rng);
    for (auto& v : w) v = seed % 3 == 0 && v == 0 ? 0.0f : lognormal(rng);
    if (seed % 3 == 0) {
      for (size_t i = 0; i < w.size(); i += 7) w[i] = 0;
    }
    const size_t nbytes = static_cast<size_t>(nrows * (n_per_row / 256)) * f.block_bytes;
    std::vector<uint8_t> ref(nbytes), fast(nbytes);
    f.ref(x.data(), ref.data(), nrows, n_per_row, w.data());
    f.fast(x.data(), fast.data(), nrows, n_per_row, w.data());
    ASSERT_EQ(first_difference(fast, ref, f.block_bytes), "") << f.name << " seed " << seed;
    if (!f.needs_imatrix) {
      f.ref(x.data(), ref.data(), nrows, n_per_row, nullptr);
      f.fast(x.data(), fast.data(), nrows, n_per_row, nullptr);
      ASSERT_EQ(first_difference(fast, ref, f.block_bytes), "") << f.name << " seed " << seed << " no imatrix";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, IqLowFastPaths, ::testing::Range(0, 5),
                         [](const ::testing::TestParamInfo<int>& info) { return std::string(kFormats[info.param].name); });

// The candidate search itself: every list length up to a few vectors, terms
// with ties, NaN and infinities, on every target, against the one-at-a-time
// scan (which is the references' rule: first strict minimum below FLT_MAX).
TEST(IqGridSearch, FirstBestEqualsScanOnEverySimdTarget) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> code(0, 2);
  std::uniform_int_distribution<int> pick(0, 9);
  const float kSpecial[] = {0.0f, -0.0f, 1.0f, 1.0f, std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), FLT_MAX, 0.5f, 3e38f, 2.0f};
  int compared = 0;
  for (int trial = 0; trial < 400; ++trial) {
    iq_grid::Terms terms{};
    for (auto& row : terms.v) {
      for (int c = 0; c < 3; ++c) row[c] = trial % 2 ? kSpecial[pick(rng)] : static_cast<float>(pick(rng));
    }
    const int n = 1 + trial % 50;
    std::vector<uint16_t> keys((n + iq_grid::kListPad - 1) / iq_grid::kListPad * iq_grid::kListPad);
    for (int c = 0; c < n; ++c) {
      uint16_t key = 0;
      for (int i = 0; i < 8; ++i) key = static_cast<uint16_t>(key | (code(rng) << (2 * i)));
      keys[c] = key;
    }
    for (size_t c = n; c < keys.size(); ++c) keys[c] = keys[n - 1];
    const int expected = iq_grid::first_best_scalar(terms, keys.data(), n);
    for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
      hwy::SetSupportedTargetsForTest(target);
      const int got = iq_grid::first_best(terms, keys.data(), n);
      hwy::SetSupportedTargetsForTest(0);
      ASSERT_EQ(got, expected) << "trial " << trial << " n " << n << " target " << hwy::TargetName(target);
      ++compared;
    }
  }
  EXPECT_GT(compared, 400);
}

}  // namespace
}  // namespace apex::quant
