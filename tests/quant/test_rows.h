// Families of input rows for the per-type tests: the cases where a
// quantizer's rounding, clamping or scale search is most likely to differ
// from llama.cpp's. Deterministic (fixed seeds), so failures reproduce.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace apex::testing {

struct RowFamily {
  std::string name;
  std::vector<float> data;  // nrows * n_per_row
};

// nrows rows of n_per_row floats for every family.
inline std::vector<RowFamily> row_families(int64_t n_per_row, int64_t nrows, uint32_t seed = 1) {
  const size_t n = static_cast<size_t>(n_per_row * nrows);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<RowFamily> out;
  auto fill = [&](const std::string& name, auto gen) {
    RowFamily f{name, std::vector<float>(n)};
    for (size_t i = 0; i < n; ++i) f.data[i] = gen(i);
    out.push_back(std::move(f));
  };
  fill("normal", [&](size_t) { return normal(rng); });
  fill("normal_small_scale", [&](size_t) { return 0.02f * normal(rng); });
  fill("positive", [&](size_t) { return std::abs(normal(rng)) + 0.1f; });
  fill("heavy_tailed_outliers", [&](size_t) {
    float v = normal(rng);
    if (uni(rng) < 0.01f) v *= 40.0f;  // rare large outliers, as in real weights
    return v * v * v * 0.3f;
  });
  fill("all_zero", [&](size_t) { return 0.0f; });
  fill("constant", [&](size_t) { return 0.75f; });
  fill("constant_negative", [&](size_t) { return -3.25f; });
  fill("zero_blocks_mixed", [&](size_t i) { return (i / 32) % 3 == 0 ? 0.0f : normal(rng); });
  fill("tiny_1e-30", [&](size_t) { return 1e-30f * normal(rng); });
  fill("huge_1e30", [&](size_t) { return 1e30f * normal(rng); });
  fill("subnormal", [&](size_t) {
    return std::numeric_limits<float>::denorm_min() * std::floor(1000.0f * normal(rng));
  });
  fill("one_spike", [&](size_t i) { return i % 97 == 5 ? 50.0f : 0.001f * normal(rng); });
  fill("integers", [&](size_t) { return std::round(4.0f * normal(rng)); });
  return out;
}

struct ImatrixFamily {
  std::string name;
  std::vector<float> weights;  // empty = no imatrix
};

// Importance-weight vectors of n_per_row floats, like real imatrix data:
// positive, heavy-tailed, some exact zeros.
inline std::vector<ImatrixFamily> imatrix_families(int64_t n_per_row, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<float> lognormal(0.0f, 1.5f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<ImatrixFamily> out;
  out.push_back({"none", {}});
  ImatrixFamily heavy{"lognormal_with_zeros", std::vector<float>(n_per_row)};
  for (auto& w : heavy.weights) w = uni(rng) < 0.05f ? 0.0f : lognormal(rng);
  out.push_back(std::move(heavy));
  ImatrixFamily flat{"uniform", std::vector<float>(n_per_row)};
  for (auto& w : flat.weights) w = 0.5f + uni(rng);
  out.push_back(std::move(flat));
  return out;
}

// Row lengths worth testing for a block size: one block, a few, odd counts,
// and a realistic long row.
inline std::vector<int64_t> row_lengths(int64_t block_size) {
  std::vector<int64_t> out;
  for (int64_t k : {1, 2, 3, 5, 8, 11}) out.push_back(k * block_size);
  if (block_size == 1) {
    for (int64_t n : {7, 13, 255, 4096}) out.push_back(n);
  } else {
    out.push_back(((4096 + block_size - 1) / block_size) * block_size);
  }
  return out;
}

}  // namespace apex::testing
