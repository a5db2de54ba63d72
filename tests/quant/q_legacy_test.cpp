// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 against the oracle on many randomized blocks
// (a mix of the shapes that steer the quantizers into their corner cases:
// magnitudes from subnormal to near overflow, exact ties, zero and constant
// blocks, single spikes, equal +/- extremes, NaN and infinity), with and
// without importance weights, on every Highway target this CPU has. Also:
// dequantization of random block bytes and the validation verdict.
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "oracle/oracle.h"
#include "quant/fp16.h"
#include "quant/q_legacy.h"
#include "quant/q_legacy_simd.h"
#include "quant/type_table.h"

namespace apex::quant {
namespace {

constexpr int64_t kBlock = 32;
const TypeId kLegacyTypes[] = {TypeId::Q4_0, TypeId::Q4_1, TypeId::Q5_0, TypeId::Q5_1,
                               TypeId::Q8_0};

// Offsets of the half-precision scale fields in a block (d, and m if any).
std::vector<size_t> scale_offsets(TypeId id) {
  if (id == TypeId::Q4_1 || id == TypeId::Q5_1) return {0, 2};
  return {0};
}

template <typename Fn>
void for_each_target(Fn fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(legacy_simd::target_name());
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

// nblocks blocks of 32 floats, each drawn from one of the shapes below.
std::vector<float> random_blocks(int64_t nblocks, uint32_t seed, bool non_finite) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::uniform_int_distribution<int> pos(0, kBlock - 1);
  const int kinds = non_finite ? 12 : 10;
  std::vector<float> out(static_cast<size_t>(nblocks * kBlock));
  for (int64_t b = 0; b < nblocks; ++b) {
    float* x = out.data() + b * kBlock;
    const int kind = std::uniform_int_distribution<int>(0, kinds - 1)(rng);
    switch (kind) {
      case 0: {  // any magnitude from 1e-44 (subnormal) to 1e37
        const float scale = std::pow(10.0f, -44.0f + 81.0f * uni(rng));
        for (int j = 0; j < kBlock; ++j) x[j] = scale * normal(rng);
        break;
      }
      case 1:  // typical weights
        for (int j = 0; j < kBlock; ++j) x[j] = 0.05f * normal(rng);
        break;
      case 2:  // all zero, possibly negative zeros
        for (int j = 0; j < kBlock; ++j) x[j] = uni(rng) < 0.5f ? 0.0f : -0.0f;
        break;
      case 3: {  // half-integer grid: exact rounding ties once scaled
        const float step = std::ldexp(1.0f, std::uniform_int_distribution<int>(-10, 10)(rng));
        for (int j = 0; j < kBlock; ++j)
          x[j] =
              step * 0.5f * static_cast<float>(std::uniform_int_distribution<int>(-254, 254)(rng));
        x[pos(rng)] = step * 127.0f * (uni(rng) < 0.5f ? 1.0f : -1.0f);
        break;
      }
      case 4:  // one spike among zeros
        for (int j = 0; j < kBlock; ++j) x[j] = 0.0f;
        x[pos(rng)] = normal(rng);
        break;
      case 5: {  // equal and opposite extremes: the first one decides the sign
        for (int j = 0; j < kBlock; ++j) x[j] = normal(rng);
        const float m = 4.0f + uni(rng);
        x[pos(rng)] = m;
        x[pos(rng)] = -m;
        break;
      }
      case 6:  // subnormal values only
        for (int j = 0; j < kBlock; ++j)
          x[j] = std::numeric_limits<float>::denorm_min() * std::round(20.0f * normal(rng));
        break;
      case 7: {  // constant
        const float c = normal(rng);
        for (int j = 0; j < kBlock; ++j) x[j] = c;
        break;
      }
      case 8: {  // shifted away from zero (affine formats keep min < 0 or = 0)
        const float shift = 10.0f * normal(rng);
        for (int j = 0; j < kBlock; ++j) x[j] = shift + normal(rng);
        break;
      }
      case 9:  // heavy tails
        for (int j = 0; j < kBlock; ++j) {
          const float v = normal(rng);
          x[j] = v * v * v * (uni(rng) < 0.05f ? 50.0f : 1.0f);
        }
        break;
      case 10:  // one NaN
        for (int j = 0; j < kBlock; ++j) x[j] = normal(rng);
        x[pos(rng)] = std::numeric_limits<float>::quiet_NaN();
        break;
      default:  // one infinity
        for (int j = 0; j < kBlock; ++j) x[j] = normal(rng);
        x[pos(rng)] = (uni(rng) < 0.5f ? 1.0f : -1.0f) * std::numeric_limits<float>::infinity();
        break;
    }
  }
  return out;
}

// Importance weights like real imatrix data: heavy-tailed, some zeros.
std::vector<float> random_imatrix(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<float> lognormal(0.0f, 2.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& v : w) v = uni(rng) < 0.05f ? 0.0f : lognormal(rng);
  return w;
}

std::string first_diff_block(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                             size_t block_bytes) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) {
      return "first differing byte " + std::to_string(i) + " (block " +
             std::to_string(i / block_bytes) + ")";
    }
  }
  return a.size() == b.size() ? "" : "sizes differ";
}

void check_quantize(TypeId id, const std::vector<float>& src, int64_t n_per_row,
                    const float* imatrix) {
  const TypeTraits& t = traits(id);
  const int64_t nrows = static_cast<int64_t>(src.size()) / n_per_row;
  const size_t nbytes = row_bytes(id, n_per_row) * static_cast<size_t>(nrows);
  std::vector<uint8_t> theirs(nbytes, 0xEF), ref(nbytes, 0xCD);
  ASSERT_EQ(oracle::quantize_chunk(static_cast<int>(id), src.data(), theirs.data(), 0, nrows,
                                   n_per_row, imatrix),
            nbytes);
  ASSERT_EQ(t.quantize_ref(src.data(), ref.data(), nrows, n_per_row, imatrix), nbytes);
  ASSERT_TRUE(ref == theirs) << "reference vs oracle: "
                             << first_diff_block(ref, theirs, t.block_bytes);
  for_each_target([&] {
    std::vector<uint8_t> fast(nbytes, 0xAB);
    ASSERT_EQ(t.quantize(src.data(), fast.data(), nrows, n_per_row, imatrix), nbytes);
    ASSERT_TRUE(fast == theirs) << "fast vs oracle: "
                                << first_diff_block(fast, theirs, t.block_bytes);
  });
}

class LegacyQuant : public ::testing::TestWithParam<TypeId> {};

TEST_P(LegacyQuant, RandomBlocksMatchOracle) {
  ASSERT_TRUE(oracle::available());
  constexpr int64_t kNPerRow = 1024;
  const std::vector<float> src = random_blocks(4096, 11, /*non_finite=*/false);
  const std::vector<float> imatrix = random_imatrix(kNPerRow, 5);
  {
    SCOPED_TRACE("no imatrix");
    check_quantize(GetParam(), src, kNPerRow, nullptr);
  }
  {
    SCOPED_TRACE("imatrix");
    check_quantize(GetParam(), src, kNPerRow, imatrix.data());
  }
}

// Rows of a single block each, so a NaN or infinity (which poisons the row's
// mean square in the weighted path) only affects its own block.
TEST_P(LegacyQuant, NonFiniteBlocksMatchOracle) {
  ASSERT_TRUE(oracle::available());
  const std::vector<float> src = random_blocks(2048, 23, /*non_finite=*/true);
  const std::vector<float> imatrix = random_imatrix(kBlock, 9);
  {
    SCOPED_TRACE("no imatrix");
    check_quantize(GetParam(), src, kBlock, nullptr);
  }
  {
    SCOPED_TRACE("imatrix");
    check_quantize(GetParam(), src, kBlock, imatrix.data());
  }
}

// Random block bytes: every code and fifth-bit pattern, scales drawn from all
// half values (subnormal, huge, infinite, NaN; never NaN in both d and m,
// whose sum's NaN payload would depend on the compiler's operand order).
TEST_P(LegacyQuant, DequantizeRandomBytesMatchesOracle) {
  ASSERT_TRUE(oracle::available());
  const TypeId id = GetParam();
  const size_t block_bytes = traits(id).block_bytes;
  constexpr int64_t kBlocks = 20000;
  std::mt19937 rng(31);
  std::vector<uint8_t> data(block_bytes * kBlocks);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const auto offs = scale_offsets(id);
  for (int64_t b = 0; b < kBlocks; ++b) {
    uint8_t* blk = data.data() + b * block_bytes;
    for (size_t k = 0; k < offs.size(); ++k) {
      uint16_t h;
      std::memcpy(&h, blk + offs[k], 2);
      const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
      if (k > 0 && nan) {
        uint16_t d;
        std::memcpy(&d, blk, 2);
        if ((d & 0x7c00) == 0x7c00 && (d & 0x3ff) != 0) h = 0x3c00;  // keep only one NaN
      }
      std::memcpy(blk + offs[k], &h, 2);
    }
  }
  const int64_t n = kBlocks * kBlock;
  std::vector<float> want(n);
  oracle::to_float(static_cast<int>(id), data.data(), want.data(), n);
  for_each_target([&] {
    std::vector<float> got(n, -1.0f);
    traits(id).dequantize(data.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
          << "element " << i << " (block " << i / kBlock << ")";
    }
  });
}

TEST_P(LegacyQuant, ValidationMatchesOracle) {
  ASSERT_TRUE(oracle::available());
  const TypeId id = GetParam();
  const size_t block_bytes = traits(id).block_bytes;
  constexpr size_t kBlocks = 9;
  const uint16_t probes[] = {0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xffff, 0x7bff, 0x0001, 0x8000};
  for (size_t off : scale_offsets(id)) {
    for (uint16_t probe : probes) {
      for (size_t at : {size_t{0}, size_t{4}, kBlocks - 1}) {
        std::vector<uint8_t> data(block_bytes * kBlocks, 0x11);  // 0x1111: a finite half
        std::memcpy(data.data() + at * block_bytes + off, &probe, 2);
        SCOPED_TRACE(::testing::Message() << "scale offset " << off << " probe 0x" << std::hex
                                          << probe << std::dec << " block " << at);
        EXPECT_EQ(validate_rows(id, data.data(), data.size()),
                  oracle::validate_row_data(static_cast<int>(id), data.data(), data.size()));
      }
    }
  }
  // A byte count that is not a whole number of blocks is refused by both.
  std::vector<uint8_t> data(block_bytes * 2 + 1, 0x11);
  EXPECT_FALSE(validate_rows(id, data.data(), data.size()));
  EXPECT_FALSE(oracle::validate_row_data(static_cast<int>(id), data.data(), data.size()));
}

INSTANTIATE_TEST_SUITE_P(Legacy, LegacyQuant, ::testing::ValuesIn(kLegacyTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

}  // namespace
}  // namespace apex::quant
