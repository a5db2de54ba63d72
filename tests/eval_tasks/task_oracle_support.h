// Independent re-statement of llama-perplexity's multiple-choice scoring
// (tools/perplexity in the oracle's source), used to check apex's scorers:
// every candidate sequence is run through llama.cpp (oracle::eval_logits) and
// its token log-probabilities computed here, written plainly.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "oracle/oracle.h"

namespace apex::eval::testing {

inline std::string tiny_model() { return std::string(APEX_SHARED_DIR) + "/models/tiny-moe-f16.gguf"; }
inline std::string data_file(const std::string& rel) { return std::string(APEX_SHARED_DIR) + "/data/" + rel; }
inline bool have(const std::string& p) { return std::filesystem::exists(p); }

inline std::string slurp_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<int32_t> oracle_tokens(const std::string& text) {
  std::vector<int32_t> out;
  EXPECT_TRUE(oracle::tokenize(tiny_model(), text, true, false, out));
  return out;
}

// All rows of logits of one sequence, from llama.cpp.
struct OracleRows {
  int n_vocab = 0;
  std::vector<float> logits;
  const float* row(size_t i) const { return logits.data() + i * static_cast<size_t>(n_vocab); }
};

inline OracleRows oracle_rows(const std::vector<int32_t>& tokens) {
  const oracle::LogitsResult r = oracle::eval_logits(tiny_model(), tokens, 2, 512);
  EXPECT_TRUE(r.ok) << r.error;
  return {r.n_vocab, r.logits};
}

// compute_logprobs' arithmetic (all in float).
inline float logprob_f(const float* l, int n, int32_t tok) {
  float mx = l[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, l[i]);
  float s = 0.f;
  for (int i = 0; i < n; ++i) s += expf(l[i] - mx);
  return l[tok] - mx - std::log(s);
}

// softmax()'s arithmetic (double sum, float probability), then log.
inline float logprob_softmax(const float* l, int n, int32_t tok) {
  float mx = l[0];
  for (int i = 0; i < n; ++i) mx = std::max(mx, l[i]);
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += expf(l[i] - mx);
  const float p = expf(l[tok] - mx) / s;
  return std::log(p);
}

inline size_t shared_prefix(const std::vector<std::vector<int32_t>>& seqs) {
  size_t k = 0;
  while (true) {
    for (const auto& s : seqs) {
      if (k >= s.size() || s[k] != seqs[0][k]) return k;
    }
    ++k;
  }
}

// Index j of the first maximum.
template <typename T>
int first_max(const std::vector<T>& v) {
  int best = 0;
  for (size_t i = 1; i < v.size(); ++i) if (v[i] > v[best]) best = static_cast<int>(i);
  return best;
}

}  // namespace apex::eval::testing
