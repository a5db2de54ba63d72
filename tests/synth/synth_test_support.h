// Shared by the synth tests: the scratch folder every test module shares,
// and the checks every architecture's synth test makes (llama.cpp loads and
// runs the file; the bytes do not depend on the generator's thread count).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "oracle/oracle.h"
#include "support/temp_dir.h"
#include "synth/synth.h"

namespace apex::synth::testing {

using test_support::TempDir;

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The prompt the oracle runs: BOS, then 39 ids spread over the vocabulary's
// pieces (longer than the sliding windows the tests use).
inline std::vector<int32_t> oracle_prompt() {
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(i == 0 ? 1 : 3 + (i * 37) % 590);
  return tokens;
}

// llama.cpp's logits for `tokens` over the file at `path`: one row of
// n_vocab per token, every one finite, and spread like a real model's
// (standard deviation in (0.1, max_sd)) rather than flat or exploding.
inline void expect_sane_logits(const oracle::LogitsResult& r, size_t n_tokens, int64_t n_vocab,
                               const std::string& label, double max_sd = 10.0) {
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.logits.size(), n_tokens * static_cast<size_t>(n_vocab));
  double sum = 0, sum2 = 0;
  for (float v : r.logits) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum2 += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(r.logits.size());
  const double sd = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  EXPECT_GT(sd, 0.1) << label;
  EXPECT_LT(sd, max_sd) << label;
}

// Writes `o` and has llama.cpp (the oracle) load it and run oracle_prompt()
// through it (expect_sane_logits); `logits` (optional) receives them.
inline void expect_runs_in_llama_cpp(const Options& o, const std::string& label, double max_sd = 10.0,
                                     std::vector<float>* logits = nullptr) {
  TempDir dir;
  const std::string path = dir.file(label + ".gguf");
  const Status s = write_model(o, path);
  ASSERT_TRUE(s.ok()) << s.message();
  const std::vector<int32_t> tokens = oracle_prompt();
  oracle::LogitsResult r = oracle::eval_logits(path, tokens, 2);
  ASSERT_NO_FATAL_FAILURE(expect_sane_logits(r, tokens.size(), o.n_vocab, label, max_sd));
  if (logits != nullptr) *logits = std::move(r.logits);
}

// Writes `o` with 1 and with 3 generator threads: the same bytes. `o` should
// make a file over 1 MiB (checked), so that tensors span several slabs.
inline void expect_same_bytes_whatever_threads(Options o) {
  TempDir dir;
  o.n_threads = 1;
  ASSERT_TRUE(write_model(o, dir.file("a.gguf")).ok());
  o.n_threads = 3;
  ASSERT_TRUE(write_model(o, dir.file("b.gguf")).ok());
  const std::string a = read_all(dir.file("a.gguf"));
  EXPECT_GT(a.size(), 1u << 20);
  EXPECT_EQ(a, read_all(dir.file("b.gguf")));
}

}  // namespace apex::synth::testing
