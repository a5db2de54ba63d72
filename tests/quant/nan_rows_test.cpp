// Rows holding NaN, against the oracle, for the formats whose block maximum
// uses ggml's MAX(a, b) = a > b ? a : b: a NaN becomes the running maximum
// until the next value replaces it, so where the NaN sits changes the scale.
// (apex's pipeline refuses non-finite weights before quantizing; this keeps
// the formats themselves byte-identical to ggml_quantize_chunk anyway.)
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "oracle/oracle.h"
#include "quant/type_table.h"

namespace apex::quant {
namespace {

TEST(NanRows, TernaryBlockMaximumFollowsGgml) {
  ASSERT_TRUE(oracle::available());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (TypeId id : {TypeId::TQ1_0, TypeId::TQ2_0}) {
    const TypeTraits& t = traits(id);
    SCOPED_TRACE(t.name);
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    // NaN first, in the middle after the largest value, just before the end,
    // last, and two in a row.
    for (const std::vector<int>& where : std::vector<std::vector<int>>{{0}, {100}, {254}, {255}, {31, 32}}) {
      constexpr int64_t kRow = 512;
      std::vector<float> row(kRow);
      for (auto& v : row) v = normal(rng);
      row[99] = 7.5f;  // a clear maximum right before the middle NaN
      for (int w : where) row[w] = nan;
      const size_t nbytes = row_bytes(id, kRow);
      std::vector<uint8_t> ours(nbytes), ref(nbytes);
      t.quantize(row.data(), ours.data(), 1, kRow, nullptr);
      t.quantize_ref(row.data(), ref.data(), 1, kRow, nullptr);
      const auto theirs = oracle::quantize_chunk_isolated(static_cast<int>(id), row.data(), 1, kRow, nullptr, nbytes);
      ASSERT_TRUE(theirs.has_value());
      EXPECT_EQ(ref, *theirs) << "reference differs from ggml, NaN at " << where[0];
      EXPECT_EQ(ours, ref) << "fast path differs from reference, NaN at " << where[0];
    }
  }
}

}  // namespace
}  // namespace apex::quant
