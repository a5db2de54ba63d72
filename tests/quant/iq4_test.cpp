// IQ4_NL, IQ4_XS, MXFP4, NVFP4, TQ1_0, TQ2_0, Q1_0, Q2_0 against the oracle
// on inputs the generic OracleBytes rows do not reach: block magnitudes swept
// across the whole float range (every E8M0 exponent, every UE4M3 code and its
// rounding carries, subnormal scales), values exactly halfway between two
// levels, NaN and infinity; and decoding / validating random block bytes
// (scale bytes no quantizer writes: E8M0 0xFF, UE4M3 0x7F and bytes with the
// top bit set, half-precision inf/NaN, base-3 bytes above 242).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "oracle/oracle.h"
#include "quant/type_table.h"

namespace apex::quant {
namespace {

constexpr int64_t kRow = 256;  // a multiple of every block size here

const TypeId kTypes[] = {TypeId::IQ4_NL, TypeId::IQ4_XS, TypeId::MXFP4, TypeId::NVFP4,
                         TypeId::TQ1_0,  TypeId::TQ2_0,  TypeId::Q1_0,  TypeId::Q2_0};

// Byte offset of the half-precision scale in a block; -1 when the type has
// none (MXFP4 and NVFP4 carry 8-bit scales).
int half_scale_offset(TypeId id) {
  switch (id) {
    case TypeId::TQ1_0: return 52;
    case TypeId::TQ2_0: return 64;
    case TypeId::MXFP4:
    case TypeId::NVFP4: return -1;
    default: return 0;
  }
}

// Rows (kRow floats each) built to hit rounding corners.
std::vector<float> corner_rows(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<float> out;
  auto row = [&](auto gen) {
    for (int64_t j = 0; j < kRow; ++j) out.push_back(gen(j));
  };
  // Magnitude sweep, from subnormal to near FLT_MAX: every shared exponent.
  for (int k = -149; k <= 126; k += 3) {
    row([&](int64_t) { return std::ldexp(normal(rng), k); });
  }
  // Group maxima of 6 * 2^k * (1 + u): amax / 6 hits every UE4M3 mantissa,
  // including the ones whose rounding carries into the next exponent.
  for (int k = -12; k <= 9; ++k) {
    row([&](int64_t j) {
      const float top = 6.0f * std::ldexp(1.0f + uni(rng), k);
      return j % 16 == 3 ? top : top * (2.0f * uni(rng) - 1.0f);
    });
  }
  // Exact ties: multiples of a quarter step against a power-of-two maximum,
  // so x / scale lands exactly between two levels of every format here.
  for (int k : {-20, -3, 0, 5}) {
    const float amax = std::ldexp(1.0f, k);
    row([&](int64_t j) {
      if (j % 32 == 0) return amax;
      const int m = static_cast<int>(rng() % 49) - 24;
      return amax * static_cast<float>(m) / 16.0f;
    });
    row([&](int64_t j) { return j % 2 == 0 ? amax : -amax * 0.5f; });
  }
  // Equal +/- extremes, signed zeros.
  row([&](int64_t j) { return j % 2 == 0 ? 1.5f : -1.5f; });
  row([&](int64_t j) { return j % 3 == 0 ? -0.0f : 0.0f; });
  // Non-finite values in otherwise ordinary blocks.
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  row([&](int64_t j) { return j == 7 ? nan : normal(rng); });
  row([&](int64_t j) { return j == 200 ? inf : normal(rng); });
  row([&](int64_t j) { return j == 33 ? -inf : normal(rng); });
  return out;
}

// Equal bits, or both NaN (payloads may legitimately differ).
bool same_float(float a, float b) {
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b) || (std::isnan(a) && std::isnan(b));
}

TEST(LowBitFormats, CornerRowsQuantizeLikeOracle) {
  ASSERT_TRUE(oracle::available()) << "oracle missing in " << oracle::library_dir();
  const std::vector<float> rows = corner_rows(11);
  const int64_t nrows = static_cast<int64_t>(rows.size()) / kRow;
  std::vector<float> imatrix(kRow);
  std::mt19937 rng(5);
  std::lognormal_distribution<float> lognormal(0.0f, 1.0f);
  for (auto& w : imatrix) w = lognormal(rng);
  for (TypeId id : kTypes) {
    const TypeTraits& t = traits(id);
    ASSERT_NE(t.quantize, nullptr) << t.name;
    const size_t row_size = row_bytes(id, kRow);
    for (const float* qw : {static_cast<const float*>(nullptr), static_cast<const float*>(imatrix.data())}) {
      std::vector<uint8_t> ours(row_size * nrows), ref(row_size * nrows), theirs(row_size * nrows);
      ASSERT_EQ(t.quantize(rows.data(), ours.data(), nrows, kRow, qw), ours.size());
      ASSERT_EQ(t.quantize_ref(rows.data(), ref.data(), nrows, kRow, qw), ref.size());
      ASSERT_EQ(oracle::quantize_chunk(static_cast<int>(id), rows.data(), theirs.data(), 0, nrows, kRow, qw),
                theirs.size());
      for (int64_t r = 0; r < nrows; ++r) {
        ASSERT_EQ(std::memcmp(ref.data() + r * row_size, theirs.data() + r * row_size, row_size), 0)
            << t.name << " row " << r << (qw ? " with imatrix" : "");
      }
      ASSERT_EQ(ours, ref) << t.name << ": fast path differs from reference";
    }
  }
}

TEST(LowBitFormats, RandomBytesDecodeAndValidateLikeOracle) {
  ASSERT_TRUE(oracle::available()) << "oracle missing in " << oracle::library_dir();
  std::mt19937 rng(3);
  constexpr int kBlocks = 400;
  for (TypeId id : kTypes) {
    const TypeTraits& t = traits(id);
    const int type = static_cast<int>(id);
    std::vector<uint8_t> data(t.block_bytes * kBlocks);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const int off = half_scale_offset(id);
    for (int i = 0; i < kBlocks; ++i) {
      uint8_t* block = data.data() + i * t.block_bytes;
      // Keep most half scales finite so the decoded values are worth comparing;
      // plant inf/NaN (or E8M0's 0xFF) in a few blocks for validation.
      if (off >= 0 && i % 10 != 0) block[off + 1] &= 0xBB;
      if (id == TypeId::MXFP4 && i % 50 == 0) block[0] = 0xFF;
    }
    const int64_t n = t.block_size * kBlocks;
    std::vector<float> ours(n), theirs(n);
    t.dequantize(data.data(), ours.data(), n);
    oracle::to_float(type, data.data(), theirs.data(), n);
    for (int64_t j = 0; j < n; ++j) {
      ASSERT_TRUE(same_float(ours[j], theirs[j]))
          << t.name << " element " << j << ": " << ours[j] << " vs " << theirs[j];
    }
    for (int i = 0; i < kBlocks; ++i) {
      const uint8_t* block = data.data() + i * t.block_bytes;
      EXPECT_EQ(validate_rows(id, block, t.block_bytes),
                oracle::validate_row_data(type, block, t.block_bytes))
          << t.name << " block " << i;
    }
  }
}

}  // namespace
}  // namespace apex::quant
