// For every type the table implements: quantized bytes equal the oracle's
// ggml_quantize_chunk, dequantized floats equal the oracle's to_float bit for
// bit, the fast path equals the scalar reference, and the validation verdict
// equals ggml_validate_row_data. Loops over the type table, so a new format is
// covered the moment its row is filled in.
//
// The oracle runs in a forked child (oracle::quantize_chunk_isolated): ggml's
// i-quant searches abort the process (GGML_ASSERT) on rows whose squares
// overflow. Where ggml dies there are no bytes to agree with; apex must still
// quantize without crashing, fast path equal to reference, and only the
// overflowing family may make ggml die.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "oracle/oracle.h"
#include "quant/type_table.h"
#include "quant/test_rows.h"

namespace apex::quant {
namespace {

// First differing byte, or -1.
int64_t first_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return a.size() == b.size() ? -1 : static_cast<int64_t>(std::min(a.size(), b.size()));
}

class OracleBytes : public ::testing::TestWithParam<TypeId> {};

TEST_P(OracleBytes, QuantizeDequantizeValidateMatchOracle) {
  ASSERT_TRUE(oracle::available()) << "oracle missing in " << oracle::library_dir();
  const TypeTraits& t = traits(GetParam());
  const int type = static_cast<int>(t.id);
  constexpr int64_t kRows = 3;
  // Build the oracle's lookup grids once here, not in every child.
  {
    const int64_t n = t.block_size;
    std::vector<float> one(n, 0.5f), w(n, 1.0f);
    std::vector<uint8_t> warm(row_bytes(t.id, n));
    oracle::quantize_chunk(type, one.data(), warm.data(), 0, 1, n, w.data());
  }
  int checked = 0;
  std::string oracle_aborted_on;
  for (int64_t n_per_row : testing::row_lengths(t.block_size)) {
    for (const auto& imat : testing::imatrix_families(n_per_row)) {
      if (imat.weights.empty() && t.needs_imatrix) continue;
      const float* qw = imat.weights.empty() ? nullptr : imat.weights.data();
      for (const auto& fam : testing::row_families(n_per_row, kRows, static_cast<uint32_t>(n_per_row))) {
        SCOPED_TRACE(::testing::Message() << t.name << " n_per_row=" << n_per_row
                                          << " rows=" << fam.name << " imatrix=" << imat.name);
        const size_t nbytes = row_bytes(t.id, n_per_row) * kRows;
        std::vector<uint8_t> ours(nbytes, 0xAB), ref(nbytes, 0xCD);
        ASSERT_EQ(t.quantize(fam.data.data(), ours.data(), kRows, n_per_row, qw), nbytes);
        ASSERT_EQ(t.quantize_ref(fam.data.data(), ref.data(), kRows, n_per_row, qw), nbytes);
        ASSERT_EQ(first_diff(ours, ref), -1) << "fast path differs from reference";
        const auto oracle_bytes =
            oracle::quantize_chunk_isolated(type, fam.data.data(), kRows, n_per_row, qw, nbytes);
        if (!oracle_bytes) {
          EXPECT_EQ(fam.name, "huge_1e30") << "ggml aborted on a row family that is not pathological";
          oracle_aborted_on += " " + fam.name + "/" + imat.name + "/" + std::to_string(n_per_row);
          continue;
        }
        const std::vector<uint8_t>& theirs = *oracle_bytes;
        ASSERT_EQ(first_diff(ref, theirs), -1) << "reference differs from ggml_quantize_chunk";

        EXPECT_EQ(validate_rows(t.id, ours.data(), nbytes),
                  oracle::validate_row_data(type, theirs.data(), nbytes));

        const int64_t n = n_per_row * kRows;
        std::vector<float> deq_ours(n), deq_theirs(n);
        t.dequantize(ours.data(), deq_ours.data(), n);
        oracle::to_float(type, theirs.data(), deq_theirs.data(), n);
        ASSERT_EQ(std::memcmp(deq_ours.data(), deq_theirs.data(), n * sizeof(float)), 0)
            << "dequantized floats differ";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
  if (!oracle_aborted_on.empty()) std::printf("%s: ggml aborted on (family/imatrix/n):%s\n", t.name, oracle_aborted_on.c_str());
}

std::vector<TypeId> implemented_types() {
  std::vector<TypeId> out;
  for (const TypeTraits& t : all_types())
    if (t.quantize != nullptr) out.push_back(t.id);
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllImplemented, OracleBytes, ::testing::ValuesIn(implemented_types()),
                         [](const auto& info) { return std::string(type_name(info.param)); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OracleBytes);

}  // namespace
}  // namespace apex::quant
