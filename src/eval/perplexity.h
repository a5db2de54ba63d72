// Perplexity as llama-perplexity computes it (tools/perplexity in the
// oracle's source): the token stream is cut into chunks of n_ctx tokens; each
// chunk is evaluated from an empty cache, its first token replaced by BOS
// when the vocabulary adds BOS; only the second half is scored (the logits
// at positions n_ctx/2 .. n_ctx-2 predicting the next token), so every
// scored token has at least n_ctx/2 tokens of context. PPL = exp(mean NLL);
// its error is the standard error of the mean NLL times PPL.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/weights.h"
#include "util/status.h"

namespace apex::eval {

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int n_chunks = -1;     // -1: as many as the tokens allow
  int64_t n_batch = 512; // tokens per forward batch within a chunk
  // When set, the scored rows' log-probabilities go to this file in
  // llama-perplexity's --kl-divergence-base format (eval/logits_file.h).
  std::string save_logits;
};

struct PerplexityResult {
  int n_chunks = 0;
  int64_t n_ctx = 0;
  int64_t n_scored = 0;            // tokens scored in total
  std::vector<double> running_ppl; // estimate after each chunk
  double ppl = 0;
  double ppl_stderr = 0;           // +/- as llama-perplexity prints it
  double mean_nll = 0;
};

// Accumulates llama-perplexity's sums: nll and nll^2 of each scored token.
struct NllSums {
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  // -log softmax(logits)[next], with llama-perplexity's arithmetic (expf of
  // float differences summed in double).
  void add(const float* logits, int64_t n_vocab, int32_t next);
  double ppl() const;
  double ppl_stderr() const;
};

// The chunks llama-perplexity evaluates: n_chunks copies of n_ctx tokens,
// the first replaced by `bos` when bos >= 0. Error when fewer than 2 * n_ctx
// tokens are given (llama-perplexity's own minimum).
Result<std::vector<std::vector<int32_t>>> make_chunks(std::span<const int32_t> tokens,
                                                      const PerplexityOptions& opts, int32_t bos);

// The token written at each chunk's position 0: the vocabulary's BOS when it
// adds BOS, else -1 (nothing replaced).
int32_t chunk_bos(const engine::Model& model);

// Scores already-evaluated chunk logits (n_ctx rows of n_vocab) into sums.
void score_chunk(const std::vector<int32_t>& chunk, const float* logits, int64_t n_vocab,
                 NllSums& sums);

using ChunkCallback = std::function<void(int chunk, double running_ppl)>;

// Runs the model over the tokens (ids, BOS not yet applied: the stream as the
// tokenizer returns it with add_special). BOS comes from the model's vocabulary.
Result<PerplexityResult> perplexity(const engine::Model& model, std::span<const int32_t> tokens,
                                    const PerplexityOptions& opts,
                                    const ChunkCallback& on_chunk = {});

// Tokenizes `text` with the model's own vocabulary (BOS added as the
// vocabulary says, as llama-perplexity does) and runs perplexity().
Result<PerplexityResult> perplexity_text(const engine::Model& model, const std::string& text,
                                         const PerplexityOptions& opts,
                                         const ChunkCallback& on_chunk = {});

// Whitespace-separated token ids from a file.
Result<std::vector<int32_t>> read_token_file(const std::string& path);

nlohmann::json to_json(const PerplexityResult& r);

}  // namespace apex::eval
