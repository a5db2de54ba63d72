#include "eval/tasks_common.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace apex::eval {

std::vector<size_t> hellaswag_pick(size_t n_available, size_t n) {
  // llama.cpp draws from the tasks still in its line list and erases the
  // drawn one, so later indices shift down: keep the same list here.
  std::vector<size_t> left(n_available);
  for (size_t i = 0; i < n_available; ++i) left[i] = i;
  const size_t count = std::min(n, n_available);
  std::mt19937 rng(1);
  std::vector<size_t> picked;
  picked.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::uniform_int_distribution<size_t> dist(0, left.size() - 1);
    const size_t idx = dist(rng);
    picked.push_back(left[idx]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(idx));
  }
  return picked;
}

std::vector<size_t> float_scale_pick(size_t n_available, size_t n) {
  std::vector<size_t> picked;
  if (n == 0 || n >= n_available) {
    for (size_t i = 0; i < n_available; ++i) picked.push_back(i);
    return picked;
  }
  std::mt19937 rng(1);
  std::vector<int> aux(n_available);
  for (size_t i = 0; i < n_available; ++i) aux[i] = static_cast<int>(i);
  // The product is formed in float, as llama.cpp writes it; the rounding
  // decides which task is picked, so keep the exact expression shape.
  const float scale = 1.f / (1.f + static_cast<float>(std::mt19937::max()));
  for (size_t i = 0; i < n; ++i) {
    const int j = static_cast<int>(scale * static_cast<float>(rng()) * static_cast<float>(aux.size()));
    picked.push_back(static_cast<size_t>(aux[j]));
    aux[j] = aux.back();
    aux.pop_back();
  }
  return picked;
}

float token_logprob(const float* logits, int64_t n_vocab, int32_t token) {
  float max_logit = logits[0];
  for (int64_t j = 1; j < n_vocab; ++j) max_logit = std::max(max_logit, logits[j]);
  float sum_p = 0.f;
  for (int64_t j = 0; j < n_vocab; ++j) sum_p += std::exp(logits[j] - max_logit);
  return logits[token] - max_logit - std::log(sum_p);
}

float token_logprob_softmax(const float* logits, int64_t n_vocab, int32_t token) {
  float max_logit = logits[0];
  for (int64_t j = 0; j < n_vocab; ++j) max_logit = std::max(max_logit, logits[j]);
  double sum_exp = 0.0;
  for (int64_t j = 0; j < n_vocab; ++j) sum_exp += std::exp(logits[j] - max_logit);
  const float p = static_cast<float>(std::exp(logits[token] - max_logit) / sum_exp);
  return std::log(p);
}

SequenceEvaluator::SequenceEvaluator(const engine::Model& model, const TaskOptions& opts)
    : ctx_(model, opts.n_ctx), n_vocab_(model.config.n_vocab), n_batch_(opts.n_batch) {
  auto tk = tok::Tokenizer::from_file(*model.file);
  if (!tk) {
    init_ = tk.error();
    return;
  }
  tokenizer_ = std::make_unique<tok::Tokenizer>(std::move(*tk));
}

std::vector<int32_t> SequenceEvaluator::tokenize(const std::string& text) const {
  return tokenizer_->tokenize(text, /*add_special=*/true, /*parse_special=*/false);
}

Status SequenceEvaluator::eval(const std::vector<std::vector<int32_t>>& seqs,
                               std::vector<std::vector<float>>& logits) {
  logits.resize(seqs.size());
  for (size_t s = 0; s < seqs.size(); ++s) {
    if (static_cast<int64_t>(seqs[s].size()) > ctx_.n_ctx()) {
      return make_error("a candidate of {} tokens does not fit the context of {} (raise --ctx)",
                        seqs[s].size(), ctx_.n_ctx());
    }
    ctx_.reset();
    APEX_RETURN_IF_ERROR(ctx_.eval(seqs[s], &logits[s], n_batch_));
  }
  return Status::Ok();
}

size_t common_prefix(const std::vector<std::vector<int32_t>>& seqs) {
  if (seqs.empty()) return 0;
  size_t n = seqs[0].size();
  for (const auto& s : seqs) n = std::min(n, s.size());
  size_t k = 0;
  for (; k < n; ++k) {
    bool same = true;
    for (const auto& s : seqs) same = same && s[k] == seqs[0][k];
    if (!same) break;
  }
  return k;
}

std::vector<double> mean_ending_logprobs(const std::vector<std::vector<int32_t>>& seqs,
                                         const std::vector<std::vector<float>>& logits,
                                         int64_t n_vocab, size_t prefix, bool float_sum) {
  std::vector<double> out(seqs.size());
  for (size_t s = 0; s < seqs.size(); ++s) {
    const auto& seq = seqs[s];
    const float* rows = logits[s].data();
    // The prefix's last row predicts the first ending token; llama.cpp takes
    // it through softmax(), the later ones through compute_logprobs.
    const float first = token_logprob_softmax(rows + (prefix - 1) * n_vocab, n_vocab, seq[prefix]);
    size_t count = 1;
    // HellaSwag sums in double, multiple choice in float: both as llama.cpp does.
    double sum_d = first;
    float sum_f = first;
    for (size_t j = prefix; j + 1 < seq.size(); ++j) {
      const float lp = token_logprob(rows + j * n_vocab, n_vocab, seq[j + 1]);
      sum_d += lp;
      sum_f += lp;
      ++count;
    }
    out[s] = float_sum ? static_cast<double>(sum_f / static_cast<float>(count)) : sum_d / static_cast<double>(count);
  }
  return out;
}

int argmax(const std::vector<double>& scores) {
  int best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = static_cast<int>(i);
  }
  return best;
}

void add_outcome(TaskResult& r, TaskOutcome o, size_t n_candidates) {
  if (o.chosen == o.gold) ++r.n_correct;
  r.outcomes.push_back(std::move(o));
  r.n_candidates += n_candidates;
  const size_t n = r.outcomes.size();
  // llama.cpp's final lines compute these in float.
  const float p = static_cast<float>(r.n_correct) / static_cast<float>(n);
  r.accuracy = 100.0 * p;
  r.stderr_ = n > 1 ? 100.0 * std::sqrt(p * (1 - p) / static_cast<float>(n - 1)) : 0.0;
  r.random_chance = 100.0 * static_cast<float>(n) / static_cast<float>(r.n_candidates);
}

std::pair<double, double> wilson_interval(int n_correct, size_t n) {
  const double freq = static_cast<double>(n_correct) / static_cast<double>(n);
  const double za = 1.95996398454;
  const double z = za * za / static_cast<double>(n);
  const double cnf = z * std::sqrt(static_cast<double>(n) * (4.0 * freq * (1 - freq) + z)) / (za + za);
  return {100.0 * (freq + z * 0.5 - cnf) / (1.0 + z), 100.0 * (freq + z * 0.5 + cnf) / (1.0 + z)};
}

nlohmann::json to_json(const TaskResult& r) {
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& o : r.outcomes) {
    tasks.push_back({{"index", o.index}, {"gold", o.gold}, {"chosen", o.chosen}, {"scores", o.scores}});
  }
  return {{"task", r.task},
          {"tasks_available", r.n_available},
          {"tasks_evaluated", r.outcomes.size()},
          {"correct", r.n_correct},
          {"accuracy", r.accuracy},
          {"stderr", r.stderr_},
          {"random_chance", r.random_chance},
          {"tasks", tasks}};
}

}  // namespace apex::eval
