// KL divergence of a model against base log-probabilities, as
// llama-perplexity --kl-divergence computes it (tools/perplexity in the
// oracle's source): the base file fixes n_ctx, the chunks and the token
// stream; each chunk is evaluated from an empty cache with BOS at position 0
// when the vocabulary adds BOS, and the second half is compared row by row
// with the stored base log-probabilities.
//
// Per scored token (p: base, q: this model):
//   KLD = sum over tokens with log p > -16 of p (log p - log q)
//   dp  = q(next) - p(next)            ("delta p")
//   same top: argmax q == argmax p (first index on ties)
// Summaries: mean +/- standard error (zero up to 10 tokens), sorted-value
// percentiles interpolated linearly at fraction * (n - 1) in float, the
// median as the mean of the two middle values, ln(PPL(Q)/PPL(base)) with an
// uncertainty that subtracts twice the covariance of the two NLLs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/weights.h"
#include "eval/logits_file.h"
#include "util/status.h"

namespace apex::eval {

// llama-perplexity's running sums.
struct KldSums {
  double nll = 0, nll2 = 0, nll_base = 0, nll_base2 = 0, nll_nll_base = 0;
  double kld = 0, kld2 = 0;
  double p_diff = 0, p_diff2 = 0, p_diff4 = 0;
  float max_abs_p_diff = 0;
  int64_t same_top = 0, count = 0;
};

// Compares one row of logits with a stored base row, in llama-perplexity's
// float/double arithmetic; adds to `sums`, returns {KLD, dp} of the token.
std::pair<double, float> add_kld_row(const float* logits, const uint16_t* base_row, int64_t n_vocab,
                                     int32_t next, KldSums& sums);

struct ValueWithError {
  double value = 0, error = 0;
};

// The per-chunk line llama-perplexity prints (running figures).
struct KldChunkLine {
  int chunk = 0;
  ValueWithError ppl, ln_ppl_ratio, kld, rms_p_diff, same_top;  // rms_p_diff, same_top as fractions
};

struct Percentile {
  double fraction = 0;  // 0.999, 0.99, ...
  double value = 0;
};

struct KldResult {
  int n_chunks = 0;
  int64_t n_ctx = 0, n_vocab = 0, n_scored = 0;
  std::vector<KldChunkLine> chunks;
  // Perplexity statistics.
  ValueWithError ppl, ppl_base, ln_ppl_ratio, ppl_ratio, ppl_diff;
  double ln_ppl_correlation = 0;  // Cor(ln PPL(Q), ln PPL(base))
  // KL divergence statistics.
  ValueWithError kld;
  double kld_max = 0, kld_median = 0, kld_min = 0;
  std::vector<Percentile> kld_percentiles;     // 99.9, 99, 95, 90, 10, 5, 1, 0.1
  // Token probability statistics (fractions, not percent).
  ValueWithError p_diff, rms_p_diff, same_top;
  double p_diff_max = 0, p_diff_median = 0, p_diff_min = 0;
  std::vector<Percentile> p_diff_percentiles;  // 99.9, 99, 95, 90, 75, 25, 10, 5, 1, 0.1
};

// Summarises accumulated sums and the per-token values (sorted here).
KldResult summarize_kld(const KldSums& sums, std::vector<float> kld_values, std::vector<float> p_diff_values);
KldChunkLine kld_chunk_line(const KldSums& sums, int chunk);

struct KldOptions {
  int64_t n_batch = 512;
  // When set, the token stream the base file must hold (the text tokenized by
  // this model): a mismatch names the first differing position.
  std::optional<std::vector<int32_t>> expected_tokens;
};

using KldChunkCallback = std::function<void(const KldChunkLine&)>;

Result<KldResult> kl_divergence(const engine::Model& model, LogitsReader& base, const KldOptions& opts,
                                const KldChunkCallback& on_chunk = {});

nlohmann::json to_json(const KldResult& r);
// llama-perplexity's text: the running line per chunk, the final statistics.
std::string format_chunk_line(const KldChunkLine& line);
std::string format_text(const KldResult& r);

}  // namespace apex::eval
