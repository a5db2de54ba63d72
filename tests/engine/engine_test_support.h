// Shared helpers of the engine tests: temporary synthetic models, token
// streams, and the statistics that compare two engines' logits.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "synth/synth.h"

namespace apex::engine::testing {

namespace fs = std::filesystem;

// The scratch folder every test module shares (tests/support).
using test_support::TempDir;

inline std::string tiny_model_path() {
  return std::string(APEX_SHARED_DIR) + "/models/tiny-moe-f16.gguf";
}

// Small synthetic models of each architecture (fast on two cores).
inline synth::Options synth_options(const std::string& arch, int n_expert, quant::TypeId type) {
  synth::Options o;
  o.arch = arch;
  o.n_layer = 2;
  o.n_embd = 256;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_expert = n_expert;
  o.n_expert_used = n_expert > 0 ? 2 : 0;
  o.n_ff = 256;
  o.n_vocab = 1024;
  o.weight_type = type;
  o.context_length = 512;
  o.n_threads = 2;
  return o;
}

// Deterministic token ids in [1, n_vocab) (a simple LCG; 0 is <unk>).
inline std::vector<int32_t> test_tokens(int64_t n, int64_t n_vocab, uint32_t seed = 1) {
  std::vector<int32_t> out;
  uint32_t s = seed;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    out.push_back(static_cast<int32_t>(1 + (s >> 8) % static_cast<uint32_t>(n_vocab - 1)));
  }
  return out;
}

struct LogitStats {
  double max_abs = 0;       // max |a - b| over every logit
  double argmax_agree = 0;  // fraction of positions with the same argmax
  double mean_kl = 0;       // mean over positions of KL(P_b || P_a)
  double max_kl = 0;
};

inline std::vector<double> log_softmax(const float* x, int64_t n) {
  double max = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  const double lse = max + std::log(sum);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] - lse;
  return out;
}

// a: apex, b: the reference (oracle); n_pos rows of n_vocab.
inline LogitStats compare_logits(const std::vector<float>& a, const std::vector<float>& b,
                                 int64_t n_vocab) {
  LogitStats s;
  const int64_t n_pos = static_cast<int64_t>(b.size()) / n_vocab;
  int64_t agree = 0;
  for (int64_t p = 0; p < n_pos; ++p) {
    const float* ra = &a[p * n_vocab];
    const float* rb = &b[p * n_vocab];
    for (int64_t i = 0; i < n_vocab; ++i) s.max_abs = std::max(s.max_abs, double(std::fabs(ra[i] - rb[i])));
    agree += (std::max_element(ra, ra + n_vocab) - ra) == (std::max_element(rb, rb + n_vocab) - rb);
    const auto la = log_softmax(ra, n_vocab), lb = log_softmax(rb, n_vocab);
    double kl = 0;
    for (int64_t i = 0; i < n_vocab; ++i) kl += std::exp(lb[i]) * (lb[i] - la[i]);
    s.mean_kl += kl;
    s.max_kl = std::max(s.max_kl, kl);
  }
  s.argmax_agree = n_pos > 0 ? double(agree) / n_pos : 1.0;
  s.mean_kl = n_pos > 0 ? s.mean_kl / n_pos : 0.0;
  return s;
}

}  // namespace apex::engine::testing
