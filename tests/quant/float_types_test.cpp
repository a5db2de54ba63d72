// F16 / BF16 / F32 rows against the oracle: the float -> half and float ->
// bfloat16 conversions on tens of millions of bit patterns (every sign and
// exponent with all low 14 mantissa bits, plus a stride through all 2^32
// patterns), the reverse conversions on all 65,536 patterns, and the
// validation verdict. The vector kernels are checked on every Highway target
// this CPU supports, not just the one dispatch picks.
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "oracle/oracle.h"
#include "quant/float_types.h"
#include "quant/fp16.h"
#include "quant/q_legacy_simd.h"
#include "quant/type_table.h"

namespace apex::quant {
namespace {

constexpr int kF32 = static_cast<int>(TypeId::F32);
constexpr int kF16 = static_cast<int>(TypeId::F16);
constexpr int kBF16 = static_cast<int>(TypeId::BF16);

// Runs fn once per Highway target available here, with dispatch pinned to it.
template <typename Fn>
void for_each_target(Fn fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(legacy_simd::target_name());
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Float bit patterns where conversions to 16 bits go wrong: for each sign and
// exponent, every combination of the low 14 mantissa bits (the bits F16
// rounding looks at for normal results, and the ties) under two upper
// mantissa patterns; the ties of subnormal half results; then a stride
// through the whole 32-bit space.
std::vector<float> conversion_patterns() {
  std::vector<uint32_t> bits;
  // 0x1FF: rounding up carries into the exponent; 0x000: it does not.
  const uint32_t uppers[] = {0x000u, 0x1FFu};
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint32_t exp = 0; exp < 256; ++exp) {
      for (uint32_t upper : uppers) {
        for (uint32_t low = 0; low < (1u << 14); ++low) {
          bits.push_back((sign << 31) | (exp << 23) | (upper << 14) | low);
        }
      }
    }
  }
  // Results that are subnormal halves round away more than 14 bits: there,
  // every kept value with the dropped bits just below, at and just above the
  // tie, and at both ends.
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint32_t exp = 102; exp <= 113; ++exp) {
      const uint32_t shift = 126 - exp;  // bits dropped from the 24-bit significand
      const uint32_t tie = 1u << (shift - 1);
      for (uint32_t kept = 0; kept < (1u << (24 - shift)); ++kept) {
        for (uint32_t dropped : {0u, 1u, tie - 1, tie, tie + 1, (1u << shift) - 1}) {
          const uint32_t significand = (kept << shift) | dropped;
          if (significand < (1u << 23)) continue;  // implicit bit must be set
          bits.push_back((sign << 31) | (exp << 23) | (significand & 0x7fffffu));
        }
      }
    }
  }
  for (uint64_t b = 12345; b < (1ull << 32); b += 1021) bits.push_back(static_cast<uint32_t>(b));
  std::vector<float> out(bits.size());
  std::memcpy(out.data(), bits.data(), bits.size() * sizeof(float));
  return out;
}

const std::vector<float>& patterns() {
  static const std::vector<float> p = conversion_patterns();
  return p;
}

std::vector<uint16_t> oracle_16bit(int type, const std::vector<float>& src) {
  std::vector<uint16_t> out(src.size());
  // Chunked: ggml's row loops count in int.
  constexpr size_t kChunk = 1 << 22;
  for (size_t i = 0; i < src.size(); i += kChunk) {
    const size_t n = std::min(kChunk, src.size() - i);
    oracle::quantize_chunk(type, src.data() + i, out.data() + i, 0, 1, static_cast<int64_t>(n),
                           nullptr);
  }
  return out;
}

int64_t first_mismatch(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return -1;
}

std::string describe(const std::vector<float>& src, const std::vector<uint16_t>& got,
                     const std::vector<uint16_t>& want, int64_t i) {
  if (i < 0) return "";
  char buf[128];
  std::snprintf(buf, sizeof buf, "at %lld: input bits 0x%08x -> 0x%04x, oracle 0x%04x",
                static_cast<long long>(i), std::bit_cast<uint32_t>(src[i]), got[i], want[i]);
  return buf;
}

TEST(FloatTypes, Fp32ToFp16MatchesOracleOnBitPatterns) {
  ASSERT_TRUE(oracle::available());
  const auto& src = patterns();
  const std::vector<uint16_t> want = oracle_16bit(kF16, src);
  const int64_t n = static_cast<int64_t>(src.size());

  std::vector<uint16_t> scalar(src.size());
  for (size_t i = 0; i < src.size(); ++i) scalar[i] = fp32_to_fp16(src[i]);
  int64_t bad = first_mismatch(scalar, want);
  ASSERT_EQ(bad, -1) << "fp32_to_fp16 " << describe(src, scalar, want, bad);

  std::vector<uint16_t> ref(src.size());
  ASSERT_EQ(quantize_f16_ref(src.data(), ref.data(), 1, n, nullptr), src.size() * 2);
  bad = first_mismatch(ref, want);
  ASSERT_EQ(bad, -1) << "quantize_f16_ref " << describe(src, ref, want, bad);

  for_each_target([&] {
    std::vector<uint16_t> fast(src.size(), 0xABCD);
    ASSERT_EQ(quantize_f16(src.data(), fast.data(), 1, n, nullptr), src.size() * 2);
    const int64_t i = first_mismatch(fast, want);
    ASSERT_EQ(i, -1) << "quantize_f16 " << describe(src, fast, want, i);
  });
}

TEST(FloatTypes, Fp32ToBf16MatchesOracleOnBitPatterns) {
  ASSERT_TRUE(oracle::available());
  const auto& src = patterns();
  const std::vector<uint16_t> want = oracle_16bit(kBF16, src);
  const int64_t n = static_cast<int64_t>(src.size());

  std::vector<uint16_t> ref(src.size());
  ASSERT_EQ(quantize_bf16_ref(src.data(), ref.data(), 1, n, nullptr), src.size() * 2);
  int64_t bad = first_mismatch(ref, want);
  ASSERT_EQ(bad, -1) << "quantize_bf16_ref " << describe(src, ref, want, bad);

  for_each_target([&] {
    std::vector<uint16_t> fast(src.size(), 0xABCD);
    ASSERT_EQ(quantize_bf16(src.data(), fast.data(), 1, n, nullptr), src.size() * 2);
    const int64_t i = first_mismatch(fast, want);
    ASSERT_EQ(i, -1) << "quantize_bf16 " << describe(src, fast, want, i);
  });
}

// All 65,536 halves / bfloat16s, including NaN payloads and subnormals,
// compared as float bits (a memcmp, so NaNs must match exactly too).
void expect_all_16bit_patterns_match(int type, void (*ours)(const void*, float*, int64_t)) {
  std::vector<uint16_t> all(1 << 16);
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  // Odd lengths and offsets exercise the scalar tails of the vector loops.
  for (size_t len : {all.size(), all.size() - 7}) {
    std::vector<float> want(len), got(len);
    oracle::to_float(type, all.data(), want.data(), static_cast<int64_t>(len));
    for_each_target([&] {
      std::fill(got.begin(), got.end(), -1.0f);
      ours(all.data(), got.data(), static_cast<int64_t>(len));
      for (size_t i = 0; i < len; ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
            << "pattern 0x" << std::hex << all[i];
      }
    });
  }
}

TEST(FloatTypes, Fp16ToFp32MatchesOracleOnAllPatterns) {
  ASSERT_TRUE(oracle::available());
  expect_all_16bit_patterns_match(kF16, dequantize_f16);
}

TEST(FloatTypes, Bf16ToFp32MatchesOracleOnAllPatterns) {
  ASSERT_TRUE(oracle::available());
  expect_all_16bit_patterns_match(kBF16, dequantize_bf16);
}

TEST(FloatTypes, F32CopiesAndIgnoresImatrix) {
  const std::vector<float> src = {1.0f, -0.0f, 3.5e-42f, 7.0f};
  const std::vector<float> imatrix = {1.0f, 2.0f};
  std::vector<float> ours(4), theirs(4);
  ASSERT_EQ(quantize_f32(src.data(), ours.data(), 2, 2, imatrix.data()), 16u);
  ASSERT_EQ(oracle::quantize_chunk(kF32, src.data(), theirs.data(), 0, 2, 2, imatrix.data()), 16u);
  EXPECT_EQ(std::memcmp(ours.data(), theirs.data(), 16), 0);
  std::vector<float> back(4);
  dequantize_f32(ours.data(), back.data(), 4);
  EXPECT_EQ(std::memcmp(back.data(), src.data(), 16), 0);
}

// One bad value at a few positions (first, inside a vector-sized run, last)
// in rows of a few lengths; the verdict must be ggml's.
TEST(FloatTypes, ValidationMatchesOracle) {
  ASSERT_TRUE(oracle::available());
  struct Case {
    int type;
    size_t elem;
    uint32_t bad_bits;
  };
  const Case cases[] = {
      {kF16, 2, 0x7c00},     {kF16, 2, 0xfc00},     {kF16, 2, 0x7c01},     {kF16, 2, 0x7bff},
      {kBF16, 2, 0x7f80},    {kBF16, 2, 0xff81},    {kBF16, 2, 0x7fc0},    {kBF16, 2, 0x7f7f},
      {kF32, 4, 0x7f800000}, {kF32, 4, 0xffc00000}, {kF32, 4, 0x7f800001}, {kF32, 4, 0x7f7fffff},
  };
  for (const Case& c : cases) {
    for (size_t n : {1u, 17u, 1000u}) {
      for (size_t pos : {size_t{0}, n / 2, n - 1}) {
        std::vector<uint8_t> data(n * c.elem);
        // Ordinary finite values everywhere (1.0 in each format) ...
        for (size_t i = 0; i < n; ++i) {
          const uint32_t one = c.type == kF32 ? 0x3f800000u : c.type == kF16 ? 0x3c00u : 0x3f80u;
          std::memcpy(data.data() + i * c.elem, &one, c.elem);
        }
        // ... and the probe value at pos.
        std::memcpy(data.data() + pos * c.elem, &c.bad_bits, c.elem);
        SCOPED_TRACE(::testing::Message()
                     << "type " << c.type << " bits 0x" << std::hex << c.bad_bits << std::dec
                     << " n=" << n << " pos=" << pos);
        EXPECT_EQ(validate_rows(static_cast<TypeId>(c.type), data.data(), data.size()),
                  oracle::validate_row_data(c.type, data.data(), data.size()));
      }
    }
  }
}

}  // namespace
}  // namespace apex::quant
