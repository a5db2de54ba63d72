// What HellaSwag, Winogrande and the multiple-choice benchmarks share, as
// llama-perplexity scores them (tools/perplexity in the oracle's source):
// each candidate text is tokenized whole (BOS as the vocabulary says), its
// tokens are run through the model, and a candidate's score is the mean
// log-probability of some of its tokens. llama.cpp packs many candidates
// into one multi-sequence batch; apex evaluates each candidate sequence from
// an empty cache, which gives every token the same context llama.cpp gives it.
//
// Task selection with a task count follows llama.cpp's rules exactly, so the
// same count picks the same tasks in the same order:
//   - HellaSwag: std::mt19937 seeded 1, each pick uniform_int_distribution
//     over the tasks left, the picked task removed (always, even for "all").
//   - Winogrande, multiple choice: std::mt19937 seeded 1, index
//     int(scale * rng() * left) in float arithmetic (scale = 1 / (max + 1)),
//     the picked slot filled with the last index.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/forward.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/weights.h"
#include "util/status.h"

namespace apex::eval {

struct TaskOptions {
  size_t n_tasks = 0;     // 0: every task (HellaSwag still shuffles them, as llama.cpp does)
  int64_t n_ctx = 0;      // positions per candidate sequence (0: the model's training context)
  int64_t n_batch = 512;  // tokens per forward batch
};

// One scored task, in the order evaluated.
struct TaskOutcome {
  size_t index = 0;            // record number in the file (0-based)
  int gold = 0;                // 0-based index of the correct candidate
  int chosen = 0;              // 0-based index of the best-scoring candidate
  std::vector<double> scores;  // per candidate: mean log-probability of its scored tokens
};

struct TaskResult {
  std::string task;                   // "hellaswag", "winogrande", "multiple-choice"
  size_t n_available = 0;             // tasks in the file
  std::vector<TaskOutcome> outcomes;  // the evaluated tasks in order
  int n_correct = 0;
  double accuracy = 0;  // percent
  double stderr_ = 0;   // percent: 100 * sqrt(p (1 - p) / (n - 1)), llama.cpp's final figure
  size_t n_candidates = 0;   // candidates over all evaluated tasks
  double random_chance = 0;  // percent: n / n_candidates, llama.cpp's "random chance"
};

// Called after each task with the running result (for llama.cpp's running lines).
using TaskCallback = std::function<void(const TaskResult& running)>;

// ---- task selection ---------------------------------------------------------

// HellaSwag's order: n picks out of n_available (n >= n_available: all of them, shuffled).
std::vector<size_t> hellaswag_pick(size_t n_available, size_t n);
// Winogrande's and multiple choice's: n picks (0 or n >= n_available: all, in file order).
std::vector<size_t> float_scale_pick(size_t n_available, size_t n);

// ---- log-probabilities ------------------------------------------------------

// log p(token) with llama.cpp's compute_logprobs arithmetic: float max, float
// sum of expf, logit - max - log(sum).
float token_logprob(const float* logits, int64_t n_vocab, int32_t token);
// log p(token) through llama.cpp's softmax(): float max, double sum of expf,
// float probabilities, then log of the float probability. llama.cpp uses this
// one for the first token after a shared prefix.
float token_logprob_softmax(const float* logits, int64_t n_vocab, int32_t token);

// Runs candidate sequences through the model, each from an empty cache.
class SequenceEvaluator {
 public:
  SequenceEvaluator(const engine::Model& model, const TaskOptions& opts);
  const tok::Tokenizer& tokenizer() const { return *tokenizer_; }
  Status init_error() const { return init_; }
  int64_t n_vocab() const { return n_vocab_; }
  int64_t n_ctx() const { return ctx_.n_ctx(); }
  // tokenize(text, add_special = true, parse_special = false), as common_tokenize.
  std::vector<int32_t> tokenize(const std::string& text) const;
  // Evaluates every sequence; logits[s] holds seqs[s].size() rows of n_vocab.
  Status eval(const std::vector<std::vector<int32_t>>& seqs, std::vector<std::vector<float>>& logits);

 private:
  engine::Context ctx_;
  std::unique_ptr<tok::Tokenizer> tokenizer_;
  Status init_;
  int64_t n_vocab_ = 0, n_batch_ = 512;
};

// Number of leading tokens every sequence shares.
size_t common_prefix(const std::vector<std::vector<int32_t>>& seqs);

// The HellaSwag / multiple-choice score of each candidate: the mean
// log-probability of its tokens after the shared prefix `prefix` (the first of
// them through the softmax path, the rest through token_logprob). Every
// sequence must be longer than `prefix` and prefix >= 1.
std::vector<double> mean_ending_logprobs(const std::vector<std::vector<int32_t>>& seqs,
                                         const std::vector<std::vector<float>>& logits,
                                         int64_t n_vocab, size_t prefix, bool float_sum);

// Index of the largest score, the first on ties.
int argmax(const std::vector<double>& scores);

// Adds one outcome and refreshes the totals.
void add_outcome(TaskResult& r, TaskOutcome o, size_t n_candidates);

// 95% Wilson score interval of the running accuracy, as llama.cpp's HellaSwag
// lines print it (percent).
std::pair<double, double> wilson_interval(int n_correct, size_t n);

nlohmann::json to_json(const TaskResult& r);

}  // namespace apex::eval
