// The packed integer kernels (packed_rows.h, kernels_simd.cpp) against the
// row kernels of quant_dot.h, which follow ggml's plain x86-64 order: equal
// bit for bit, for tiles of 1..4 rows, on every weight type they serve. The
// row kernels themselves are checked against a float dot of the dequantized
// rows (they must compute the same product up to rounding).
#include <gtest/gtest.h>

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
  const int64_t n_in = 768, n_out = 11, n_tok = 5;
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
  ASSERT_FALSE(act.q16.empty());
  std::vector<float> y(static_cast<size_t>(n_tok * n_out));
  matmul(w, 0, act, y.data(), n_out);

  const RowDotFn row_dot = simd::row_dot_kernel(type);
  ASSERT_NE(row_dot, nullptr);
  std::vector<float> deq(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    tt.dequantize(w.row(r), deq.data(), n_in);
    for (int64_t t = 0; t < n_tok; ++t) {
      const float ref = row_dot(w.row(r), act.raw_row(t), n_in);
      const float got = y[static_cast<size_t>(t * n_out + r)];
      uint32_t a, b;
      std::memcpy(&a, &ref, 4);
      std::memcpy(&b, &got, 4);
      EXPECT_EQ(a, b) << tt.name << " row " << r << " token " << t << ": " << ref << " vs " << got;
      double exact = 0;
      for (int64_t i = 0; i < n_in; ++i) exact += double(deq[i]) * act.value_row(t)[i];
      EXPECT_NEAR(ref, exact, 1e-3 * (1 + std::fabs(exact))) << tt.name << " row " << r;
    }
  }
  // Every tile height gives the same bits as one row at a time.
  for (int nr = 1; nr <= 4; ++nr) {
    std::vector<PackedRow> packed(static_cast<size_t>(nr));
    std::vector<const PackedRow*> rows;
    for (int i = 0; i < nr; ++i) {
      pack_weight_row(type, w.row(i), n_in, packed[static_cast<size_t>(i)]);
      rows.push_back(&packed[static_cast<size_t>(i)]);
    }
    float out[4];
    simd::packed_dot_rows(packed_kind(type), nr, rows.data(), act.q16.data(), act.block_d.data(),
                          act.bsums.empty() ? nullptr : act.bsums.data(), n_in, out);
    for (int i = 0; i < nr; ++i) EXPECT_EQ(out[i], y[static_cast<size_t>(i)]) << tt.name << " tile " << nr;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, PackedDot,
                         ::testing::Values(Case{TypeId::Q8_0}, Case{TypeId::Q4_K}, Case{TypeId::Q5_K},
                                           Case{TypeId::Q6_K}, Case{TypeId::Q3_K}, Case{TypeId::Q2_K},
                                           Case{TypeId::IQ4_XS}),
                         [](const auto& info) { return std::string(quant::traits(info.param.type).name); });

}  // namespace
}  // namespace apex::engine
