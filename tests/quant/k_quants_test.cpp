// K-quants (Q2_K .. Q6_K) against llama.cpp on many rows that look like real
// model weights, with and without importance matrices that look like real
// imatrix data, plus the fast path against the scalar reference on many more
// rows than the oracle test uses. The generic per-type test
// (oracle_bytes_test.cpp) covers the edge-case row families.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <hwy/targets.h>

#include "oracle/oracle.h"
#include "quant/k_quants.h"
#include "quant/type_table.h"

namespace apex::quant {
namespace {

constexpr TypeId kKTypes[] = {TypeId::Q2_K, TypeId::Q3_K, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K};

// Rows shaped like trained weight matrices: per-row scale varying over two
// orders of magnitude, a mix of Gaussian, Laplacian and Student-t like bulk,
// a few columns with consistently large values (outlier channels), some
// rows with a non-zero mean, and rare isolated spikes.
std::vector<float> weight_like_rows(int64_t nrows, int64_t n_per_row, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::exponential_distribution<float> expo(1.0f);
  std::vector<float> outlier_gain(n_per_row, 1.0f);
  for (auto& g : outlier_gain)
    if (uni(rng) < 0.01f) g = 4.0f + 8.0f * uni(rng);
  std::vector<float> rows(static_cast<size_t>(nrows * n_per_row));
  for (int64_t r = 0; r < nrows; ++r) {
    const float row_scale = 0.002f * std::pow(100.0f, uni(rng));
    const float row_mean = uni(rng) < 0.2f ? 0.5f * row_scale * normal(rng) : 0.0f;
    const int shape = static_cast<int>(r % 3);
    for (int64_t c = 0; c < n_per_row; ++c) {
      float v;
      if (shape == 0) {
        v = normal(rng);
      } else if (shape == 1) {
        v = (uni(rng) < 0.5f ? -1.0f : 1.0f) * expo(rng);  // Laplace
      } else {
        const float g = normal(rng), chi = std::abs(normal(rng)) + 0.3f;
        v = g / chi;  // heavy tails
      }
      if (uni(rng) < 0.0005f) v *= 30.0f;
      rows[r * n_per_row + c] = row_mean + row_scale * outlier_gain[c] * v;
    }
  }
  return rows;
}

// Importance vectors like llama-imatrix output (mean squared activations per
// column): log-normal over several decades, a few hot columns, occasional
// exact zeros (never-activated columns).
std::vector<std::vector<float>> imatrix_like(int64_t n_per_row, uint32_t seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<float> lognormal(-2.0f, 2.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<std::vector<float>> out;
  for (int variant = 0; variant < 3; ++variant) {
    std::vector<float> w(n_per_row);
    for (auto& v : w) {
      v = lognormal(rng);
      if (uni(rng) < 0.003f) v *= 1000.0f;
      if (variant == 1 && uni(rng) < 0.02f) v = 0.0f;
    }
    if (variant == 2) {  // one whole zero super-block of importance
      for (int64_t c = 0; c < std::min<int64_t>(256, n_per_row); ++c) w[c] = 0.0f;
    }
    out.push_back(std::move(w));
  }
  return out;
}

std::string first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, size_t block_bytes) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) {
      return "first difference at byte " + std::to_string(i) + " (block " + std::to_string(i / block_bytes) +
             ", offset " + std::to_string(i % block_bytes) + ")";
    }
  }
  return "";
}

// Silences stderr while alive: ggml_validate_row_data prints a line per
// rejected buffer.
class QuietStderr {
 public:
  QuietStderr() : saved_(dup(2)) {
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 2);
    close(null_fd);
  }
  ~QuietStderr() {
    dup2(saved_, 2);
    close(saved_);
  }

 private:
  int saved_;
};

class KQuants : public ::testing::TestWithParam<TypeId> {};

// Many realistic rows, all three imatrix variants and none: bytes equal
// ggml_quantize_chunk, and the dequantized values equal ggml's to_float.
TEST_P(KQuants, RealisticRowsMatchOracle) {
  ASSERT_TRUE(oracle::available()) << "oracle missing in " << oracle::library_dir();
  const TypeTraits& t = traits(GetParam());
  const int type = static_cast<int>(t.id);
  struct Shape {
    int64_t nrows, n_per_row;
  };
  for (const Shape shape : {Shape{96, 4096}, Shape{9, 5632}}) {
    const auto rows = weight_like_rows(shape.nrows, shape.n_per_row, 1234u + static_cast<uint32_t>(shape.n_per_row));
    std::vector<std::vector<float>> imats = imatrix_like(shape.n_per_row, 99u);
    imats.insert(imats.begin(), std::vector<float>{});  // no imatrix
    for (size_t v = 0; v < imats.size(); ++v) {
      SCOPED_TRACE(::testing::Message() << t.name << " " << shape.nrows << "x" << shape.n_per_row
                                        << " imatrix variant " << v);
      const float* qw = imats[v].empty() ? nullptr : imats[v].data();
      const size_t nbytes = row_bytes(t.id, shape.n_per_row) * shape.nrows;
      std::vector<uint8_t> ours(nbytes), theirs(nbytes);
      ASSERT_EQ(t.quantize(rows.data(), ours.data(), shape.nrows, shape.n_per_row, qw), nbytes);
      ASSERT_EQ(oracle::quantize_chunk(type, rows.data(), theirs.data(), 0, shape.nrows, shape.n_per_row, qw),
                nbytes);
      ASSERT_EQ(first_difference(ours, theirs, t.block_bytes), "");

      const int64_t n = shape.nrows * shape.n_per_row;
      std::vector<float> deq_ours(n), deq_theirs(n);
      t.dequantize(ours.data(), deq_ours.data(), n);
      oracle::to_float(type, theirs.data(), deq_theirs.data(), n);
      ASSERT_EQ(std::memcmp(deq_ours.data(), deq_theirs.data(), n * sizeof(float)), 0);
    }
  }
}

// Quantizing a slab starting at a later row through ggml_quantize_chunk's
// `start` gives the same bytes as quantizing those rows on their own.
TEST_P(KQuants, ChunkOffsetMatchesOracle) {
  const TypeTraits& t = traits(GetParam());
  const int64_t nrows = 6, n_per_row = 768;
  const auto rows = weight_like_rows(nrows, n_per_row, 77u);
  const auto imat = imatrix_like(n_per_row, 5u)[0];
  const size_t row_size = row_bytes(t.id, n_per_row);
  std::vector<uint8_t> ours(row_size * 4), theirs(row_size * nrows);
  t.quantize(rows.data() + 2 * n_per_row, ours.data(), 4, n_per_row, imat.data());
  oracle::quantize_chunk(static_cast<int>(t.id), rows.data(), theirs.data(), 2 * n_per_row, 4, n_per_row,
                         imat.data());
  ASSERT_EQ(std::memcmp(ours.data(), theirs.data() + 2 * row_size, ours.size()), 0);
}

// The fast path equals the reference byte for byte on many rows, mixing
// realistic rows with hard cases (constant runs, exact zeros, tiny and huge
// magnitudes) that exercise the degenerate branches of the searches.
TEST_P(KQuants, FastEqualsReferenceOnManyRows) {
  const TypeTraits& t = traits(GetParam());
  const int64_t n_per_row = 1024, nrows = 96;
  auto rows = weight_like_rows(nrows, n_per_row, 4242u);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  for (int64_t r = 0; r < nrows; r += 7) {
    float* row = rows.data() + r * n_per_row;
    const int kind = static_cast<int>(uni(rng) * 5);
    for (int64_t c = 0; c < n_per_row; ++c) {
      switch (kind) {
        case 0: if ((c / 16) % 2 == 0) row[c] = 0.0f; break;  // zero sub-blocks
        case 1: if ((c / 32) % 3 == 0) row[c] = 0.125f; break;  // constant sub-blocks
        case 2: row[c] = std::abs(row[c]); break;  // all positive: min clamps to 0
        case 3: row[c] *= 1e-20f; break;
        default: row[c] = std::round(row[c] * 200.0f / (std::abs(row[c]) * 200.0f + 1.0f)); break;
      }
    }
  }
  std::vector<std::vector<float>> imats = imatrix_like(n_per_row, 3u);
  imats.insert(imats.begin(), std::vector<float>{});
  for (size_t v = 0; v < imats.size(); ++v) {
    SCOPED_TRACE(::testing::Message() << t.name << " imatrix variant " << v);
    const float* qw = imats[v].empty() ? nullptr : imats[v].data();
    const size_t nbytes = row_bytes(t.id, n_per_row) * nrows;
    std::vector<uint8_t> fast(nbytes), ref(nbytes);
    ASSERT_EQ(t.quantize(rows.data(), fast.data(), nrows, n_per_row, qw), nbytes);
    ASSERT_EQ(t.quantize_ref(rows.data(), ref.data(), nrows, n_per_row, qw), nbytes);
    ASSERT_EQ(first_difference(fast, ref, t.block_bytes), "");
  }
}

// The SIMD searches are compiled for several instruction sets and chosen at
// run time; every one this machine supports must give the reference bytes
// (lane count differs per target, which changes how candidates are batched).
TEST_P(KQuants, EverySimdTargetEqualsReference) {
  const TypeTraits& t = traits(GetParam());
  const int64_t n_per_row = 512, nrows = 12;
  const auto rows = weight_like_rows(nrows, n_per_row, 31u);
  const auto imat = imatrix_like(n_per_row, 17u)[1];
  const size_t nbytes = row_bytes(t.id, n_per_row) * nrows;
  for (const float* qw : {static_cast<const float*>(nullptr), imat.data()}) {
    std::vector<uint8_t> ref(nbytes);
    t.quantize_ref(rows.data(), ref.data(), nrows, n_per_row, qw);
    for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
      hwy::SetSupportedTargetsForTest(target);
      std::vector<uint8_t> fast(nbytes);
      t.quantize(rows.data(), fast.data(), nrows, n_per_row, qw);
      hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
      EXPECT_EQ(first_difference(fast, ref, t.block_bytes), "")
          << t.name << " target " << hwy::TargetName(target) << (qw ? " with imatrix" : "");
    }
  }
}

// Dequantizing arbitrary bytes (every scale and code bit pattern, not only
// those a quantizer writes) gives ggml's floats bit for bit, as long as the
// fp16 super-scales are finite (with a NaN scale the NaN payload would depend
// on the compiler's operand order).
TEST_P(KQuants, DequantizeRandomBlocksMatchesOracle) {
  const TypeTraits& t = traits(GetParam());
  constexpr int64_t kBlocks = 512;
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> data(kBlocks * t.block_bytes);
  QuietStderr quiet;
  for (int64_t i = 0; i < kBlocks; ++i) {
    uint8_t* blk = data.data() + i * t.block_bytes;
    do {  // redraw blocks the oracle rejects (an inf/NaN super-scale)
      for (size_t k = 0; k < t.block_bytes; ++k) blk[k] = static_cast<uint8_t>(byte(rng));
    } while (!oracle::validate_row_data(static_cast<int>(t.id), blk, t.block_bytes));
  }
  ASSERT_TRUE(validate_rows(t.id, data.data(), data.size()));
  const int64_t n = kBlocks * t.block_size;
  std::vector<float> ours(n), theirs(n);
  t.dequantize(data.data(), ours.data(), n);
  oracle::to_float(static_cast<int>(t.id), data.data(), theirs.data(), n);
  ASSERT_EQ(std::memcmp(ours.data(), theirs.data(), n * sizeof(float)), 0);
}

// Corrupt super-scales (inf/NaN fp16 in d or dmin) are rejected exactly when
// ggml_validate_row_data rejects them; a ragged size is rejected too.
TEST_P(KQuants, ValidateAgreesOnCorruptScales) {
  const TypeTraits& t = traits(GetParam());
  const int type = static_cast<int>(t.id);
  const auto rows = weight_like_rows(1, 512, 8u);
  std::vector<uint8_t> good(row_bytes(t.id, 512));
  t.quantize(rows.data(), good.data(), 1, 512, nullptr);
  EXPECT_TRUE(validate_rows(t.id, good.data(), good.size()));
  EXPECT_FALSE(validate_rows(t.id, good.data(), good.size() - 1));
  QuietStderr quiet;
  for (size_t offset = 0; offset + 1 < t.block_bytes; ++offset) {
    for (uint16_t bad : {uint16_t{0x7c00}, uint16_t{0xfc00}, uint16_t{0x7e00}, uint16_t{0x7c01}}) {
      std::vector<uint8_t> data = good;
      std::memcpy(data.data() + t.block_bytes + offset, &bad, 2);  // second block
      EXPECT_EQ(validate_rows(t.id, data.data(), data.size()),
                oracle::validate_row_data(type, data.data(), data.size()))
          << t.name << " offset " << offset << " value " << bad;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(KTypes, KQuants, ::testing::ValuesIn(kKTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

}  // namespace
}  // namespace apex::quant
