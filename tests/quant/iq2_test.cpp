// IQ2_XXS, IQ2_XS and IQ2_S against the oracle, including the inputs where
// ggml itself aborts (GGML_ASSERT in its neighbour search, e.g. when squared
// values overflow to infinity). The generic OracleBytes test cannot run those
// in-process, so here each oracle call runs in a forked child: when the child
// dies, ggml has no bytes to agree with and we only require that apex
// quantizes without crashing; otherwise bytes, dequantized floats and the
// validation verdict must match exactly.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "oracle/oracle.h"
#include "quant/iq2.h"
#include "quant/iq2_grids.h"
#include "quant/test_rows.h"
#include "quant/type_table.h"

namespace apex::quant {
namespace {

struct Iq2Type {
  TypeId id;
  QuantizeRowsFn quantize;
  QuantizeRowsFn quantize_ref;
  DequantizeRowFn dequantize;
  ValidateRowsFn validate;
  size_t block_bytes;
};

// Called directly rather than through the type table, so the formats are
// tested whether or not their table rows are live yet.
const Iq2Type kTypes[] = {
    {TypeId::IQ2_XXS, quantize_iq2_xxs, quantize_iq2_xxs_ref, dequantize_iq2_xxs, validate_iq2_xxs, 66},
    {TypeId::IQ2_XS, quantize_iq2_xs, quantize_iq2_xs_ref, dequantize_iq2_xs, validate_iq2_xs, 74},
    {TypeId::IQ2_S, quantize_iq2_s, quantize_iq2_s_ref, dequantize_iq2_s, validate_iq2_s, 82},
};

class Iq2Oracle : public ::testing::TestWithParam<Iq2Type> {};

TEST_P(Iq2Oracle, MatchesOracleWhereverGgmlQuantizes) {
  ASSERT_TRUE(oracle::available()) << "oracle missing in " << oracle::library_dir();
  setenv("GGML_NO_BACKTRACE", "1", 1);  // an aborting child must not launch a debugger
  const Iq2Type& t = GetParam();
  const int type = static_cast<int>(t.id);
  const bool needs_imatrix = oracle::quantize_requires_imatrix(type);

  // Build the oracle's grids once in this process so each child inherits them.
  {
    const auto fams = testing::row_families(256, 1);
    const auto imats = testing::imatrix_families(256);
    std::vector<uint8_t> warm(t.block_bytes);
    oracle::quantize_chunk(type, fams[0].data.data(), warm.data(), 0, 1, 256, imats[1].weights.data());
  }

  constexpr int64_t kRows = 3;
  int matched = 0, oracle_aborted = 0;
  std::string aborted_on;
  for (int64_t n_per_row : {int64_t{256}, int64_t{768}, int64_t{2816}}) {
    auto imatrices = testing::imatrix_families(n_per_row);
    // Whole sub-blocks of zero importance (columns an imatrix never saw)
    // drive the fits through their zero-weight branches.
    testing::ImatrixFamily holes{"zero_sub_blocks", imatrices[2].weights};
    for (int64_t i = 0; i < n_per_row; ++i) {
      if ((i / 16) % 3 == 1) holes.weights[i] = 0.0f;
    }
    imatrices.push_back(std::move(holes));
    for (const auto& imat : imatrices) {
      if (imat.weights.empty() && needs_imatrix) continue;
      const float* qw = imat.weights.empty() ? nullptr : imat.weights.data();
      for (const auto& fam : testing::row_families(n_per_row, kRows, static_cast<uint32_t>(n_per_row))) {
        SCOPED_TRACE(::testing::Message() << type_name(t.id) << " n_per_row=" << n_per_row
                                          << " rows=" << fam.name << " imatrix=" << imat.name);
        const size_t nbytes = static_cast<size_t>(n_per_row / 256 * kRows) * t.block_bytes;
        std::vector<uint8_t> ours(nbytes, 0xAB), ref(nbytes, 0xCD);
        ASSERT_EQ(t.quantize(fam.data.data(), ours.data(), kRows, n_per_row, qw), nbytes);
        ASSERT_EQ(t.quantize_ref(fam.data.data(), ref.data(), kRows, n_per_row, qw), nbytes);
        ASSERT_EQ(ours, ref) << "fast path differs from reference";

        const auto theirs = oracle::quantize_chunk_isolated(type, fam.data.data(), kRows, n_per_row, qw, nbytes);
        if (!theirs) {
          ++oracle_aborted;
          aborted_on += " " + fam.name + "/" + imat.name + "/" + std::to_string(n_per_row);
          continue;
        }
        ASSERT_EQ(ours, *theirs) << "bytes differ from ggml_quantize_chunk";
        EXPECT_EQ(t.validate(ours.data(), nbytes), oracle::validate_row_data(type, theirs->data(), nbytes));
        const int64_t n = n_per_row * kRows;
        std::vector<float> deq_ours(n), deq_theirs(n);
        t.dequantize(ours.data(), deq_ours.data(), n);
        oracle::to_float(type, theirs->data(), deq_theirs.data(), n);
        ASSERT_EQ(std::memcmp(deq_ours.data(), deq_theirs.data(), n * sizeof(float)), 0)
            << "dequantized floats differ";
        ++matched;
      }
    }
  }
  EXPECT_GT(matched, 0);
  if (oracle_aborted > 0) std::printf("ggml aborts on (family/imatrix/n):%s\n", aborted_on.c_str());
  // Only pathological families (overflowing values) may make ggml abort.
  EXPECT_LT(oracle_aborted, matched / 4);
}

INSTANTIATE_TEST_SUITE_P(Iq2, Iq2Oracle, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(type_name(info.param.id)); });

// Every block the decoder can meet decodes like ggml's: random bytes (with a
// finite scale) through both dequantizers.
TEST(Iq2Decode, RandomBlocksDecodeLikeOracle) {
  ASSERT_TRUE(oracle::available());
  std::mt19937 rng(42);
  for (const Iq2Type& t : kTypes) {
    SCOPED_TRACE(type_name(t.id));
    constexpr int kBlocks = 64;
    std::vector<uint8_t> data(kBlocks * t.block_bytes);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    for (int b = 0; b < kBlocks; ++b) {
      data[b * t.block_bytes + 1] &= 0x3b;  // keep the fp16 scale finite and modest
    }
    std::vector<float> ours(kBlocks * 256), theirs(kBlocks * 256);
    t.dequantize(data.data(), ours.data(), kBlocks * 256);
    oracle::to_float(static_cast<int>(t.id), data.data(), theirs.data(), kBlocks * 256);
    ASSERT_EQ(std::memcmp(ours.data(), theirs.data(), ours.size() * sizeof(float)), 0);
  }
}

// The neighbour tables are built at first use; the oracle needs seconds for
// IQ2_S, ours must stay far below that.
TEST(Iq2Tables, BuildQuickly) {
  const auto start = std::chrono::steady_clock::now();
  for (auto cb : {iq2::Codebook::kXXS, iq2::Codebook::kXS, iq2::Codebook::kS}) {
    const auto& t = iq2::search_tables(cb);
    EXPECT_EQ(t.codes.size(), 8 * iq2::codebook_points(cb).size());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 1.0);
}

}  // namespace
}  // namespace apex::quant
