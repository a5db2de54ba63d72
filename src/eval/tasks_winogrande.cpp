#include "eval/tasks_winogrande.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "eval/tasks_io.h"

namespace apex::eval {

namespace {

// The first four commas outside double quotes, as llama.cpp splits a line.
bool split_csv_line(const std::string& line, std::array<size_t, 4>& comma) {
  int n = 0;
  bool quoted = false;
  for (size_t i = 0; i < line.size() && n < 4; ++i) {
    if (quoted) {
      if (line[i] == '"') quoted = false;
    } else if (line[i] == ',') {
      comma[n++] = i;
    } else if (line[i] == '"') {
      quoted = true;
    }
  }
  return n == 4;
}

}  // namespace

Result<std::vector<WinograndeTask>> parse_winogrande_csv(const std::string& text, const std::string& name) {
  const std::vector<std::string> lines = split_lines(text);
  std::vector<WinograndeTask> tasks;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) continue;
    std::array<size_t, 4> c{};
    if (!split_csv_line(line, c)) {
      return make_error("{}: line {}: expected 5 comma-separated fields (index,sentence,option1,option2,answer)",
                        name, i + 1);
    }
    std::string sentence = line.substr(c[0] + 1, c[1] - c[0] - 1);
    if (sentence.size() >= 2 && sentence.front() == '"' && sentence.back() == '"') {
      sentence = sentence.substr(1, sentence.size() - 2);
    }
    const std::string answer = line.substr(c[3] + 1);
    if (i == 0 && answer == "answer") continue;  // header
    const size_t blank = sentence.find('_');
    if (blank == std::string::npos) return make_error("{}: line {}: the sentence has no '_' blank", name, i + 1);
    if (answer != "1" && answer != "2") {
      return make_error("{}: line {}: answer '{}' is not 1 or 2", name, i + 1, answer);
    }
    WinograndeTask t;
    t.first = sentence.substr(0, blank);
    t.second = sentence.substr(blank + 1);
    t.choices[0] = line.substr(c[1] + 1, c[2] - c[1] - 1);
    t.choices[1] = line.substr(c[2] + 1, c[3] - c[2] - 1);
    t.answer = answer[0] - '0';
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) return make_error("{}: no Winogrande tasks", name);
  return tasks;
}

Result<std::vector<WinograndeTask>> parse_winogrande_jsonl(const std::string& text, const std::string& name) {
  const std::vector<std::string> lines = split_lines(text);
  std::vector<WinograndeTask> tasks;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return make_error("{}: line {}: not a JSON object", name, i + 1);
    const auto opts = j.find("context_options");
    const auto cont = j.find("continuation");
    const auto gold = j.find("gold");
    if (opts == j.end() || !opts->is_array() || opts->size() != 2 || !(*opts)[0].is_string() ||
        !(*opts)[1].is_string()) {
      return make_error("{}: line {}: \"context_options\" is not an array of 2 strings", name, i + 1);
    }
    if (cont == j.end() || !cont->is_string()) {
      return make_error("{}: line {}: \"continuation\" is missing or not a string", name, i + 1);
    }
    if (gold == j.end() || !gold->is_number_integer() || (*gold != 0 && *gold != 1)) {
      return make_error("{}: line {}: \"gold\" is not 0 or 1", name, i + 1);
    }
    const std::string a = (*opts)[0], b = (*opts)[1];
    size_t lcp = 0;
    while (lcp < a.size() && lcp < b.size() && a[lcp] == b[lcp]) ++lcp;
    // Cut back to just after the last space so the option is a whole word;
    // the candidate texts are the same wherever the cut falls.
    const size_t space = a.rfind(' ', lcp == 0 ? 0 : lcp - 1);
    const size_t cut = (lcp == 0 || space == std::string::npos) ? 0 : space + 1;
    WinograndeTask t;
    t.first = a.substr(0, cut);
    t.choices[0] = a.substr(cut);
    t.choices[1] = b.substr(cut);
    t.second = " " + cont->get<std::string>();
    t.answer = gold->get<int>() + 1;
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) return make_error("{}: no Winogrande tasks", name);
  return tasks;
}

Result<std::vector<WinograndeTask>> read_winogrande(const std::string& path) {
  APEX_ASSIGN_OR_RETURN(std::string text, read_whole_file(path));
  if (ends_with(path, ".jsonl") || ends_with(path, ".json")) return parse_winogrande_jsonl(text, path);
  return parse_winogrande_csv(text, path);
}

Result<TaskResult> winogrande_score(const engine::Model& model, const std::vector<WinograndeTask>& tasks,
                                    const TaskOptions& opts, const TaskCallback& on_task) {
  // Fewer trailing tokens than this after the common prefix: score the option too.
  constexpr size_t kMinTrailing = 3;
  SequenceEvaluator ev(model, opts);
  APEX_RETURN_IF_ERROR(ev.init_error());
  TaskResult r;
  r.task = "winogrande";
  r.n_available = tasks.size();
  const int64_t n_vocab = ev.n_vocab();
  std::vector<std::vector<float>> logits;
  for (size_t idx : float_scale_pick(tasks.size(), opts.n_tasks)) {
    const WinograndeTask& task = tasks[idx];
    std::vector<std::vector<int32_t>> seqs;
    std::array<size_t, 2> base{};
    for (int k = 0; k < 2; ++k) {
      seqs.push_back(ev.tokenize(task.first + task.choices[k] + task.second));
      base[k] = ev.tokenize(task.first + task.choices[k]).size();
    }
    const size_t cp = common_prefix(seqs);
    if (cp == 0) return make_error("winogrande: task {}: the candidates share no token (not even BOS)", idx + 1);
    if (Status s = ev.eval(seqs, logits); !s) return make_error("winogrande: task {}: {}", idx + 1, s.message());
    const bool skip_choice = seqs[0].size() - cp > kMinTrailing && seqs[1].size() - cp > kMinTrailing;
    // The logits row llama.cpp's batch layout hands candidate k for position j.
    auto row = [&](int k, size_t j) -> const float* {
      if (k == 0 || j >= cp) return logits[k].data() + j * n_vocab;
      // Candidate 2 inside the common prefix: llama.cpp's index lands
      // (cp - j) rows before the end of candidate 1 (clamped to its prefix).
      const size_t back = cp - j;
      const size_t pos = seqs[0].size() >= back ? seqs[0].size() - back : 0;
      return logits[0].data() + std::max(pos, cp - 1) * n_vocab;
    };
    TaskOutcome o;
    o.index = idx;
    o.gold = task.answer - 1;
    for (int k = 0; k < 2; ++k) {
      const size_t size = seqs[k].size();
      const size_t nb = std::max<size_t>(skip_choice ? base[k] : cp, 1);
      const size_t last = size > nb + 1 ? 1 : 0;
      float sum = 0;
      for (size_t j = nb - 1; j + 1 + last < size; ++j) sum += token_logprob(row(k, j), n_vocab, seqs[k][j + 1]);
      const size_t count = size >= nb + last ? size - nb - last : 0;
      o.scores.push_back(count > 0 ? sum / static_cast<float>(count) : std::numeric_limits<float>::quiet_NaN());
    }
    // Ties and NaN go to the second option, as llama.cpp's `>` does.
    o.chosen = o.scores[0] > o.scores[1] ? 0 : 1;
    add_outcome(r, std::move(o), 2);
    if (on_task) on_task(r);
  }
  return r;
}

}  // namespace apex::eval
