// IQ1_S / IQ1_M specifics beyond the generic OracleBytes test: the codebook
// decodes exactly as the oracle's iq1s_grid (every one of the 2048 points),
// the search tables build quickly, and the quantizers agree with the oracle
// on inputs chosen to exercise value ties (the qsort order), off-codebook
// code patterns and the tiny-block thresholds.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "oracle/oracle.h"
#include "quant/iq1.h"
#include "quant/iq1_grids.h"
#include "quant/type_id.h"

namespace apex::quant {
namespace {

constexpr int kIq1S = static_cast<int>(TypeId::IQ1_S);
constexpr int kIq1M = static_cast<int>(TypeId::IQ1_M);

TEST(Iq1Grids, SearchTablesBuildFastAndCoverEveryKey) {
  const auto start = std::chrono::steady_clock::now();
  const iq1::SearchTables& t = iq1::search_tables();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 1.0);
  int on_grid = 0, off_grid = 0;
  for (uint32_t key = 0; key < iq1::kKeyLimit; ++key) {
    bool valid = true;
    for (int i = 0; i < 8; ++i) valid = valid && ((key >> 2 * i) & 3) <= 2;
    if (!valid) continue;
    if (t.point_of[key] >= 0) {
      ++on_grid;
    } else {
      ++off_grid;
      EXPECT_GT(t.count[key], 0) << key;
    }
  }
  EXPECT_EQ(on_grid, iq1::kPoints);
  EXPECT_EQ(off_grid, 6561 - iq1::kPoints);
}

// Blocks whose point indices walk through the whole codebook, dequantized by
// both sides: proves the grid data and the bit layout of both formats.
TEST(Iq1Grids, EveryPointDequantizesLikeOracle) {
  ASSERT_TRUE(oracle::available());
  std::mt19937 rng(3);
  for (int type : {kIq1S, kIq1M}) {
    const size_t block_bytes = type == kIq1S ? 50 : 56;
    const int nblocks = iq1::kPoints / 32 * 2;  // 32 groups per block; every point twice
    std::vector<uint8_t> data(block_bytes * nblocks);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    for (int b = 0; b < nblocks; ++b) {
      uint8_t* blk = data.data() + b * block_bytes;
      // A finite, modest fp16 scale so every value is exact to compare.
      const uint16_t d16 = 0x3c00 | (rng() & 0x3ff);  // in [1, 2)
      if (type == kIq1S) {
        std::memcpy(blk, &d16, 2);
      } else {
        uint16_t sc[4];
        std::memcpy(sc, blk + 48, 8);
        for (int i = 0; i < 4; ++i) sc[i] = static_cast<uint16_t>((sc[i] & 0x0fff) | (((d16 >> 4 * i) & 0xf) << 12));
        std::memcpy(blk + 48, sc, 8);
      }
      for (int g = 0; g < 32; ++g) {
        const int point = (b * 32 + g) % iq1::kPoints;
        if (type == kIq1S) {
          blk[2 + g] = static_cast<uint8_t>(point & 255);
          uint16_t qh;
          std::memcpy(&qh, blk + 34 + 2 * (g / 4), 2);
          qh = static_cast<uint16_t>((qh & ~(7u << 3 * (g % 4))) | ((point >> 8) << 3 * (g % 4)));
          std::memcpy(blk + 34 + 2 * (g / 4), &qh, 2);
        } else {
          blk[g] = static_cast<uint8_t>(point & 255);
          uint8_t& qh = blk[32 + g / 2];
          qh = static_cast<uint8_t>((qh & ~(7u << 4 * (g % 2))) | ((point >> 8) << 4 * (g % 2)));
        }
      }
    }
    const int64_t n = 256LL * nblocks;
    std::vector<float> ours(n), theirs(n);
    if (type == kIq1S) {
      dequantize_iq1_s(data.data(), ours.data(), n);
    } else {
      dequantize_iq1_m(data.data(), ours.data(), n);
    }
    oracle::to_float(type, data.data(), theirs.data(), n);
    EXPECT_EQ(std::memcmp(ours.data(), theirs.data(), n * sizeof(float)), 0) << "type " << type;
  }
}

// Rows built from few distinct values (many exact ties in each block, so the
// split search depends on qsort's tie order) and values on both sides of the
// tiny-block thresholds.
std::vector<std::vector<float>> awkward_rows(int64_t n) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> pick(0, 4);
  std::vector<std::vector<float>> rows;
  const float few[5] = {-1.5f, -0.25f, 0.f, 0.25f, 2.f};
  std::vector<float> r(n);
  for (auto& v : r) v = few[pick(rng)];
  rows.push_back(r);
  for (int64_t i = 0; i < n; ++i) r[i] = (i % 16 < 8) ? few[pick(rng)] : normal(rng);
  rows.push_back(r);
  for (int64_t i = 0; i < n; ++i) r[i] = ((i / 16) % 2 ? 2e-7f : 5e-13f) * normal(rng);
  rows.push_back(r);
  for (int64_t i = 0; i < n; ++i) r[i] = normal(rng) * (i % 7 == 0 ? 8.f : 1.f);
  rows.push_back(r);
  // Constant 16-value runs and small integers: the float rounding of the
  // split sums makes cuts inside a run of equal values win.
  for (int64_t i = 0; i < n; ++i) r[i] = (i / 16) % 2 ? 0.75f : std::round(3.f * normal(rng));
  rows.push_back(r);
  return rows;
}

TEST(Iq1Quant, AwkwardRowsMatchOracle) {
  ASSERT_TRUE(oracle::available());
  constexpr int64_t kN = 1024;
  std::mt19937 rng(5);
  std::lognormal_distribution<float> lognormal(0.f, 1.f);
  std::vector<float> imatrix(kN);
  for (auto& w : imatrix) w = lognormal(rng);
  for (const auto& row : awkward_rows(kN)) {
    for (const float* qw : {static_cast<const float*>(nullptr), static_cast<const float*>(imatrix.data())}) {
      {
        std::vector<uint8_t> ours(56 * kN / 256), theirs(ours.size());
        quantize_iq1_m_ref(row.data(), ours.data(), 1, kN, qw);
        oracle::quantize_chunk(kIq1M, row.data(), theirs.data(), 0, 1, kN, qw);
        EXPECT_EQ(ours, theirs) << "IQ1_M imatrix=" << (qw != nullptr);
      }
      if (qw != nullptr) {  // the oracle aborts on IQ1_S without an imatrix
        std::vector<uint8_t> ours(50 * kN / 256), theirs(ours.size());
        quantize_iq1_s_ref(row.data(), ours.data(), 1, kN, qw);
        oracle::quantize_chunk(kIq1S, row.data(), theirs.data(), 0, 1, kN, qw);
        EXPECT_EQ(ours, theirs) << "IQ1_S";
      }
    }
  }
}

}  // namespace
}  // namespace apex::quant
