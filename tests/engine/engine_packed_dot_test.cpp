// The batched integer kernels (packed_rows.h panels, kernels_simd.cpp
// PanelGemm) against the single-row kernels (quant_dot.h, row_dot_simd.cpp),
// which follow ggml's plain x86-64 order: equal bit for bit. And both
// against an independent reference written here: the double-precision dot
// of the dequantized weight row (the type table's dequantize) with the
// activation values the kernels saw (the Q8_0 / Q8_K blocks, dequantized),
// up to float rounding; a wrong element, scale, min or lane would be off by
// far more than the bound. Types without a panel kernel (Q2_K, IQ4_XS) run
// the row kernels for batches too.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels_simd.h"
#include "engine/matmul.h"
#include "engine/packed_rows.h"
#include "engine/quant_dot.h"
#include "engine/weights.h"
#include "quant/type_table.h"

namespace apex::engine {
namespace {

using quant::TypeId;

struct Case {
  TypeId type;
};

class PackedDot : public ::testing::TestWithParam<Case> {};

std::vector<float> random_values(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  // A few outliers, as real activations have.
  for (int64_t i = 0; i < n; i += 97) v[static_cast<size_t>(i)] *= 8.0f;
  return v;
}

TEST_P(PackedDot, EqualsRowKernel) {
  const TypeId type = GetParam().type;
  const quant::TypeTraits& tt = quant::traits(type);
  ASSERT_NE(tt.quantize, nullptr);
  // 37 output rows: two or three panels of 16 / 8 / 4 rows and a partial one;
  // 21 tokens: full groups of 8 (or 4) tokens and a remainder.
  const int64_t n_in = 768, n_out = 37, n_tok = 21;
  const std::vector<float> wf = random_values(n_in * n_out, 7, 0.05f);
  const size_t row_bytes = static_cast<size_t>(n_in / tt.block_size) * tt.block_bytes;
  std::vector<uint8_t> wq(row_bytes * n_out);
  tt.quantize(wf.data(), wq.data(), n_out, n_in, nullptr);

  Weight w;
  w.data = wq.data();
  w.type = type;
  w.n_in = n_in;
  w.n_out = n_out;
  w.row_bytes = row_bytes;
  w.name = "test";

  const std::vector<float> x = random_values(n_in * n_tok, 11, 1.0f);
  Activations act;
  prepare_activations(type, x.data(), n_tok, n_in, n_in, act);
  EXPECT_EQ(act.q16.empty(), packed_kind(type) == PackedKind::kNone);
  std::vector<float> y(static_cast<size_t>(n_tok * n_out));
  matmul(w, 0, act, y.data(), n_out);  // batched: the panel kernels

  const RowDotFn row_dot = simd::row_dot_kernel(type);
  ASSERT_NE(row_dot, nullptr);
  std::vector<float> deq(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    tt.dequantize(w.row(r), deq.data(), n_in);
    for (int64_t t = 0; t < n_tok; ++t) {
      double exact = 0, magnitude = 0;
      for (int64_t i = 0; i < n_in; ++i) {
        exact += double(deq[i]) * act.value_row(t)[i];
        magnitude += std::fabs(double(deq[i]) * act.value_row(t)[i]);
      }
      const double bound = 1e-5 * magnitude + 1e-6;
      const float got = y[static_cast<size_t>(t * n_out + r)];
      const float ref = row_dot(w.row(r), act.raw_row(t), n_in);
      EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(ref))
          << tt.name << " batched vs row kernel, row " << r << " token " << t << ": " << got << " vs " << ref;
      EXPECT_NEAR(ref, exact, bound) << tt.name << " row kernel, row " << r << " token " << t;
    }
  }
}

// The SIMD row kernels (row_dot_simd.cpp) against the scalar ggml-order
// kernels (quant_dot.cpp) bit for bit, with activations at the ends of the
// int8 range (-128 and 127 with large weights are where a 16-bit
// intermediate would overflow) and rows of several blocks.
TEST(RowDotSimd, EqualsScalarKernelBitForBit) {
  struct Kernel {
    TypeId type;
    float (*scalar)(const uint8_t*, const uint8_t*, int64_t);
    int64_t n_in;
  };
  // Q8_0 rows of 35 blocks: four groups of eight and a tail of three.
  const Kernel kernels[] = {{TypeId::Q8_0, dot_q8_0_q8_0, 1120},
                            {TypeId::Q4_K, dot_q4_k_q8_k, 1024},
                            {TypeId::Q6_K, dot_q6_k_q8_k, 1024}};
  const int64_t n_rows = 23, n_tok = 5;
  for (const Kernel& k : kernels) {
    const int64_t n_in = k.n_in;
    const quant::TypeTraits& tt = quant::traits(k.type);
    const RowDotFn fast = simd::row_dot_kernel(k.type);
    ASSERT_NE(fast, nullptr) << tt.name;
    std::vector<float> wf = random_values(n_in * n_rows, 3, 0.05f);
    // Rows with large, one-signed values use the extreme codes of the format.
    for (int64_t i = 0; i < n_in; ++i) {
      wf[static_cast<size_t>(i)] = 1.0f + 0.001f * static_cast<float>(i % 7);
      wf[static_cast<size_t>(n_in + i)] = -1.0f - 0.001f * static_cast<float>(i % 5);
    }
    const size_t row_bytes = static_cast<size_t>(n_in / tt.block_size) * tt.block_bytes;
    std::vector<uint8_t> wq(row_bytes * n_rows);
    tt.quantize(wf.data(), wq.data(), n_rows, n_in, nullptr);
    // The last rows are random bytes (every quant and scale bit pattern a
    // hostile file could hold), with a small finite fp16 d (and dmin).
    std::mt19937 rng(11);
    for (int64_t r = n_rows - 4; r < n_rows; ++r) {
      uint8_t* row = wq.data() + static_cast<size_t>(r) * row_bytes;
      for (size_t i = 0; i < row_bytes; ++i) row[i] = static_cast<uint8_t>(rng());
      for (int64_t b = 0; b < n_in / tt.block_size; ++b) {
        uint8_t* block = row + static_cast<size_t>(b) * tt.block_bytes;
        const uint16_t d = 0x1C00 | static_cast<uint16_t>(rng() & 0x3FF);  // ~0.004-0.008
        const size_t d_at = k.type == TypeId::Q6_K ? tt.block_bytes - 2 : 0;
        std::memcpy(block + d_at, &d, 2);
        if (k.type == TypeId::Q4_K) std::memcpy(block + 2, &d, 2);
      }
    }
    std::vector<float> x = random_values(n_in * n_tok, 5, 1.0f);
    for (int64_t i = 0; i < n_in; ++i) {
      x[static_cast<size_t>(i)] = -2.0f;  // the whole row at the negative end
      x[static_cast<size_t>(n_in + i)] = (i % 2 == 0) ? 3.0f : -3.0f;
    }
    Activations act;
    prepare_activations(k.type, x.data(), n_tok, n_in, n_in, act);
    for (int64_t r = 0; r < n_rows; ++r) {
      for (int64_t t = 0; t < n_tok; ++t) {
        const uint8_t* wr = wq.data() + static_cast<size_t>(r) * row_bytes;
        const float want = k.scalar(wr, act.raw_row(t), n_in);
        const float got = fast(wr, act.raw_row(t), n_in);
        ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
            << tt.name << " row " << r << " token " << t << ": " << got << " vs " << want;
      }
    }
  }
}

// The SIMD panel decoding (Q4_K, Q6_K) against the scalar decoding
// (decode_weight_row, element order) read in the panels' pair order: pair
// 8g + l holds elements 16g + l and 16g + l + 8.
TEST(DecodePairedRow, EqualsScalarDecodeInPairOrder) {
  for (TypeId type : {TypeId::Q4_K, TypeId::Q6_K}) {
    const quant::TypeTraits& tt = quant::traits(type);
    const int64_t n = 768;
    const std::vector<float> wf = random_values(n, 13, 0.05f);
    std::vector<uint8_t> wq(static_cast<size_t>(n / tt.block_size) * tt.block_bytes);
    tt.quantize(wf.data(), wq.data(), 1, n, nullptr);
    std::vector<int16_t> paired(static_cast<size_t>(n)), q(static_cast<size_t>(n)),
        mins(static_cast<size_t>(n / 16));
    std::vector<float> d(static_cast<size_t>(n / 256)), dmin(static_cast<size_t>(n / 256));
    if (!simd::decode_paired_row(type, wq.data(), n, paired.data())) {
      GTEST_SKIP() << "SIMD target too narrow for the paired decoding";
    }
    decode_weight_row(type, wq.data(), n, q.data(), d.data(), dmin.data(), mins.data());
    for (int64_t k = 0; k < n / 2; ++k) {
      const int64_t i0 = 16 * (k / 8) + k % 8;
      ASSERT_EQ(paired[static_cast<size_t>(2 * k)], q[static_cast<size_t>(i0)]) << tt.name << " pair " << k;
      ASSERT_EQ(paired[static_cast<size_t>(2 * k + 1)], q[static_cast<size_t>(i0 + 8)]) << tt.name << " pair " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, PackedDot,
                         ::testing::Values(Case{TypeId::Q8_0}, Case{TypeId::Q4_K}, Case{TypeId::Q5_K},
                                           Case{TypeId::Q6_K}, Case{TypeId::Q3_K}, Case{TypeId::Q2_K},
                                           Case{TypeId::IQ4_XS}),
                         [](const auto& info) { return std::string(quant::traits(info.param.type).name); });

// The panel transpose against its definition, for a panel's row count
// (the 16 x 16 register path on AVX-512) and others, with columns that are
// and are not multiples of 16.
TEST(TransposeI32, PutsColumnKOfRowRAtKTimesRowsPlusR) {
  std::mt19937 rng(7);
  for (int rows : {16, 8, 4, 1, 3}) {
    for (int64_t cols : {int64_t{128}, int64_t{16}, int64_t{40}, int64_t{7}}) {
      std::vector<int32_t> src(static_cast<size_t>(rows * cols)), dst(src.size(), -1);
      for (int32_t& v : src) v = static_cast<int32_t>(rng());
      simd::transpose_i32(src.data(), rows, cols, dst.data());
      for (int r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < cols; ++k) {
          ASSERT_EQ(dst[static_cast<size_t>(k * rows + r)], src[static_cast<size_t>(r * cols + k)])
              << rows << " rows, " << cols << " cols, r " << r << " k " << k;
        }
      }
    }
  }
}

}  // namespace
}  // namespace apex::engine
