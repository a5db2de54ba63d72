// IQ3_XXS and IQ3_S against the oracle beyond what the generic OracleBytes
// test covers: every grid point dequantizes to the oracle's floats (quantized
// rows reach only some points), the grids' search tables build quickly, and
// the quantizers match ggml_quantize_chunk on the shared row families,
// including those where ggml aborts: its neighbour search asserts when every
// candidate's error is inf/NaN (values near 1e30 square to inf). Each oracle
// quantization runs in a forked child so such an abort only means "ggml has
// no answer here"; apex must then still quantize without crashing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "oracle/oracle.h"
#include "quant/iq3.h"
#include "quant/iq3_grids.h"
#include "quant/test_rows.h"
#include "quant/type_id.h"

namespace apex::quant {
namespace {

struct Format {
  const char* name;
  int type;
  size_t block_bytes;
  size_t (*quantize)(const float*, void*, int64_t, int64_t, const float*);
  size_t (*quantize_ref)(const float*, void*, int64_t, int64_t, const float*);
  void (*dequantize)(const void*, float*, int64_t);
};
const Format kFormats[] = {
    {"IQ3_XXS", static_cast<int>(TypeId::IQ3_XXS), 98, quantize_iq3_xxs, quantize_iq3_xxs_ref, dequantize_iq3_xxs},
    {"IQ3_S", static_cast<int>(TypeId::IQ3_S), 110, quantize_iq3_s, quantize_iq3_s_ref, dequantize_iq3_s},
};

TEST(Iq3Grids, TablesBuildFastAndCoverEveryKey) {
  const auto start = std::chrono::steady_clock::now();
  for (iq3::Grid g : {iq3::Grid::kXXS, iq3::Grid::kS}) {
    const iq3::SearchTables& t = iq3::search_tables(g);
    int on_grid = 0;
    for (int key = 0; key < iq3::kKeyLimit; ++key) {
      if (t.point_of[key] >= 0) {
        ++on_grid;
        EXPECT_EQ(iq3::grid_keys(g)[t.point_of[key]], key);
      } else {
        EXPECT_GT(t.count[key], 0) << key;
      }
    }
    EXPECT_EQ(on_grid, static_cast<int>(iq3::grid_keys(g).size()));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(s, 1.0) << "building the IQ3 search tables took " << s << " s";
}

// Random block bytes in which every grid index appears, with random signs,
// block scales and fp16 scales (finite).
TEST(Iq3Dequantize, EveryGridPointMatchesOracle) {
  ASSERT_TRUE(oracle::available()) << "oracle missing in " << oracle::library_dir();
  for (const Format& f : kFormats) {
    SCOPED_TRACE(f.name);
    constexpr int kBlocks = 64;  // 64 * 64 indices > 512 points, four times over
    std::vector<uint8_t> bytes(kBlocks * f.block_bytes);
    std::mt19937 rng(42);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    for (int b = 0; b < kBlocks; ++b) {
      uint8_t* blk = bytes.data() + b * f.block_bytes;
      const uint16_t d = static_cast<uint16_t>(0x2000 + rng() % 0x3000) | (b % 2 ? 0x8000 : 0);
      std::memcpy(blk, &d, 2);
      for (int i = 0; i < 64; ++i) blk[2 + i] = static_cast<uint8_t>(b * 64 + i);  // qs: indices in order
    }
    const int64_t n = kBlocks * 256;
    std::vector<float> ours(n), theirs(n);
    f.dequantize(bytes.data(), ours.data(), n);
    oracle::to_float(f.type, bytes.data(), theirs.data(), n);
    ASSERT_EQ(std::memcmp(ours.data(), theirs.data(), n * sizeof(float)), 0);
  }
}

TEST(Iq3Quantize, RowFamiliesMatchOracle) {
  ASSERT_TRUE(oracle::available()) << "oracle missing in " << oracle::library_dir();
  setenv("GGML_NO_BACKTRACE", "1", 1);  // a dying child must not start a debugger
  constexpr int64_t kRows = 2;
  for (const Format& f : kFormats) {
    // Build the oracle's grids here, once, so every child inherits them.
    std::vector<float> warm_src(256, 1.0f);
    std::vector<uint8_t> warm(f.block_bytes);
    oracle::quantize_chunk(f.type, warm_src.data(), warm.data(), 0, 1, 256, nullptr);
    int matched = 0;
    std::string aborted_on;
    for (int64_t n_per_row : {256, 768, 2816}) {
      auto imatrices = testing::imatrix_families(n_per_row);
      // Whole 32-value blocks an imatrix never saw (zero importance).
      testing::ImatrixFamily holes{"zero_blocks", imatrices[2].weights};
      for (int64_t i = 0; i < n_per_row; ++i)
        if ((i / 32) % 3 == 1) holes.weights[i] = 0.0f;
      imatrices.push_back(std::move(holes));
      for (const auto& imat : imatrices) {
        const float* qw = imat.weights.empty() ? nullptr : imat.weights.data();
        for (const auto& fam : testing::row_families(n_per_row, kRows, 99)) {
          SCOPED_TRACE(::testing::Message() << f.name << " n_per_row=" << n_per_row << " rows=" << fam.name
                                            << " imatrix=" << imat.name);
          const size_t nbytes = f.block_bytes * (n_per_row / 256) * kRows;
          std::vector<uint8_t> ours(nbytes, 0xAB), ref(nbytes, 0xCD);
          ASSERT_EQ(f.quantize(fam.data.data(), ours.data(), kRows, n_per_row, qw), nbytes);
          ASSERT_EQ(f.quantize_ref(fam.data.data(), ref.data(), kRows, n_per_row, qw), nbytes);
          ASSERT_EQ(ours, ref) << "fast path differs from reference";
          const auto theirs = oracle::quantize_chunk_isolated(f.type, fam.data.data(), kRows, n_per_row, qw, nbytes);
          if (!theirs) {
            aborted_on += " " + fam.name + "/" + imat.name + "/" + std::to_string(n_per_row);
            // Only the overflowing family may leave ggml without an answer.
            EXPECT_EQ(fam.name, "huge_1e30") << "ggml aborted";
            continue;
          }
          size_t diff = 0;
          while (diff < nbytes && ref[diff] == (*theirs)[diff]) ++diff;
          ASSERT_EQ(diff, nbytes) << "first differing byte " << diff << " (block " << diff / f.block_bytes
                                  << ", offset " << diff % f.block_bytes << ")";
          ++matched;
        }
      }
    }
    if (!aborted_on.empty()) std::printf("%s: ggml aborts on (rows/imatrix/n):%s\n", f.name, aborted_on.c_str());
    EXPECT_GT(matched, 0);
  }
}

}  // namespace
}  // namespace apex::quant
