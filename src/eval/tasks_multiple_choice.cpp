#include "eval/tasks_multiple_choice.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "eval/tasks_io.h"

namespace apex::eval {

namespace {

class ByteReader {
 public:
  explicit ByteReader(const std::string& b) : b_(b) {}
  void seek(size_t pos) { pos_ = pos; }
  size_t pos() const { return pos_; }
  bool u32(uint32_t& v) {
    if (b_.size() - std::min(pos_, b_.size()) < 4) return false;
    std::memcpy(&v, b_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool str(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || b_.size() - pos_ < n) return false;
    s.assign(b_.data() + pos_, n);
    pos_ += n;
    return true;
  }

 private:
  const std::string& b_;
  size_t pos_ = 0;
};

bool read_answers(ByteReader& in, std::vector<std::string>& answers, std::vector<int>& labels) {
  uint32_t n = 0;
  if (!in.u32(n) || n > 100) return false;  // llama.cpp's own bound
  answers.resize(n);
  labels.resize(n);
  for (auto& a : answers) {
    if (!in.str(a)) return false;
  }
  for (auto& l : labels) {
    uint32_t v = 0;
    if (!in.u32(v)) return false;
    l = static_cast<int>(v);
  }
  return true;
}

// RFC-4180 records (quoted fields may hold commas, quotes as "" and newlines);
// line_of[i] is the line record i starts on.
bool parse_csv(const std::string& text, std::vector<std::vector<std::string>>& records,
               std::vector<size_t>& line_of, size_t& bad_line) {
  size_t line = 1, i = 0;
  while (i < text.size()) {
    std::vector<std::string> rec;
    line_of.push_back(line);
    std::string field;
    bool done = false;
    while (!done) {
      field.clear();
      if (i < text.size() && text[i] == '"') {
        ++i;
        while (true) {
          if (i >= text.size()) {
            bad_line = line_of.back();
            return false;
          }
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') ++line;
          field += text[i++];
        }
      }
      while (i < text.size() && text[i] != ',' && text[i] != '\n') {
        if (text[i] != '\r') field += text[i];
        ++i;
      }
      rec.push_back(field);
      if (i >= text.size() || text[i] == '\n') {
        done = true;
        if (i < text.size()) ++line;
      }
      ++i;
    }
    if (!(rec.size() == 1 && rec[0].empty())) {
      records.push_back(std::move(rec));
    } else {
      line_of.pop_back();
    }
  }
  return true;
}

}  // namespace

Result<std::vector<MultipleChoiceTask>> parse_multiple_choice_bin(const std::string& bytes, const std::string& name) {
  ByteReader in(bytes);
  uint32_t n_task = 0;
  if (!in.u32(n_task) || n_task == 0) return make_error("{}: no multiple-choice tasks", name);
  std::vector<uint32_t> pos(n_task);
  for (auto& p : pos) {
    if (!in.u32(p)) return make_error("{}: truncated task offset table ({} tasks)", name, n_task);
  }
  std::vector<MultipleChoiceTask> tasks(n_task);
  for (uint32_t t = 0; t < n_task; ++t) {
    in.seek(pos[t]);
    MultipleChoiceTask& task = tasks[t];
    std::vector<std::string> mc2;
    std::vector<int> mc2_labels;
    if (!in.str(task.question) || !read_answers(in, task.answers, task.labels) ||
        !read_answers(in, mc2, mc2_labels)) {
      return make_error("{}: task {} (offset {}): truncated or more than 100 answers", name, t + 1, pos[t]);
    }
  }
  return tasks;
}

std::string write_multiple_choice_bin(const std::vector<MultipleChoiceTask>& tasks) {
  auto u32 = [](std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto str = [&](std::string& out, const std::string& s) {
    u32(out, static_cast<uint32_t>(s.size()));
    out += s;
  };
  std::string body;
  std::vector<uint32_t> pos;
  const size_t header = 4 + 4 * tasks.size();
  for (const auto& t : tasks) {
    pos.push_back(static_cast<uint32_t>(header + body.size()));
    str(body, t.question);
    u32(body, static_cast<uint32_t>(t.answers.size()));
    for (const auto& a : t.answers) str(body, a);
    for (int l : t.labels) u32(body, static_cast<uint32_t>(l));
    u32(body, 0);  // mc2: none
  }
  std::string out;
  u32(out, static_cast<uint32_t>(tasks.size()));
  for (uint32_t p : pos) u32(out, p);
  return out + body;
}

Result<std::vector<MultipleChoiceTask>> parse_arc_jsonl(const std::string& text, const std::string& name) {
  const std::vector<std::string> lines = split_lines(text);
  std::vector<MultipleChoiceTask> tasks;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error("{}: line {}: not a JSON object", name, i + 1);
    const auto q = j.find("query");
    const auto c = j.find("choices");
    const auto g = j.find("gold");
    if (q == j.end() || !q->is_string()) return make_error("{}: line {}: \"query\" is missing or not a string", name, i + 1);
    if (c == j.end() || !c->is_array() || c->size() < 2) {
      return make_error("{}: line {}: \"choices\" is not an array of at least 2 strings", name, i + 1);
    }
    MultipleChoiceTask t;
    t.question = q->get<std::string>();
    for (const auto& a : *c) {
      if (!a.is_string()) return make_error("{}: line {}: a choice is not a string", name, i + 1);
      t.answers.push_back(a.get<std::string>());
    }
    if (g == j.end() || !g->is_number_integer() || *g < 0 || *g >= static_cast<int>(c->size())) {
      return make_error("{}: line {}: \"gold\" is not an index into \"choices\"", name, i + 1);
    }
    t.labels.assign(t.answers.size(), 0);
    t.labels[g->get<int>()] = 1;
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) return make_error("{}: no multiple-choice tasks", name);
  return tasks;
}

Result<std::vector<MultipleChoiceTask>> parse_mmlu_csv(const std::string& text, const std::string& name) {
  std::vector<std::vector<std::string>> recs;
  std::vector<size_t> line_of;
  size_t bad = 0;
  if (!parse_csv(text, recs, line_of, bad)) return make_error("{}: line {}: unterminated quoted field", name, bad);
  if (recs.empty() || recs[0].size() < 4 || recs[0][0] != "question" || recs[0].back() != "answer") {
    return make_error("{}: line 1: expected the header question,choice0,...,answer", name);
  }
  const size_t n_fields = recs[0].size();
  std::vector<MultipleChoiceTask> tasks;
  for (size_t r = 1; r < recs.size(); ++r) {
    const auto& rec = recs[r];
    if (rec.size() != n_fields) {
      return make_error("{}: record {} (line {}): {} fields, the header has {}", name, r, line_of[r], rec.size(), n_fields);
    }
    MultipleChoiceTask t;
    t.question = rec[0];
    t.answers.assign(rec.begin() + 1, rec.end() - 1);
    const std::string& a = rec.back();
    size_t gold = 0;
    bool ok = !a.empty() && a.size() <= 3;
    for (char ch : a) ok = ok && ch >= '0' && ch <= '9';
    if (ok) gold = std::stoul(a);
    if (!ok || gold >= t.answers.size()) {
      return make_error("{}: record {} (line {}): answer '{}' is not an index 0..{}", name, r, line_of[r], a,
                        t.answers.size() - 1);
    }
    t.labels.assign(t.answers.size(), 0);
    t.labels[gold] = 1;
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) return make_error("{}: no multiple-choice tasks", name);
  return tasks;
}

Result<std::vector<MultipleChoiceTask>> parse_truthfulqa_json(const std::string& text, const std::string& name) {
  // ordered_json keeps the answers in the file's order (nlohmann::json would sort them).
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return make_error("{}: not a JSON array of tasks", name);
  std::vector<MultipleChoiceTask> tasks;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    if (!e.is_object() || !e.contains("question") || !e["question"].is_string()) {
      return make_error("{}: task {}: \"question\" is missing or not a string", name, i + 1);
    }
    if (!e.contains("mc1_targets") || !e["mc1_targets"].is_object() || e["mc1_targets"].empty()) {
      return make_error("{}: task {}: \"mc1_targets\" is missing or empty", name, i + 1);
    }
    MultipleChoiceTask t;
    t.question = e["question"].get<std::string>();
    int n_true = 0;
    for (const auto& [answer, label] : e["mc1_targets"].items()) {
      if (!label.is_number_integer() || (label != 0 && label != 1)) {
        return make_error("{}: task {}: label of \"{}\" is not 0 or 1", name, i + 1, answer);
      }
      t.answers.push_back(answer);
      t.labels.push_back(label.get<int>());
      n_true += label.get<int>();
    }
    if (n_true != 1) return make_error("{}: task {}: mc1 has {} true answers, expected 1", name, i + 1, n_true);
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) return make_error("{}: no multiple-choice tasks", name);
  return tasks;
}

Result<std::vector<MultipleChoiceTask>> read_multiple_choice(const std::string& path) {
  APEX_ASSIGN_OR_RETURN(std::string text, read_whole_file(path));
  if (ends_with(path, ".jsonl")) return parse_arc_jsonl(text, path);
  if (ends_with(path, ".csv")) return parse_mmlu_csv(text, path);
  if (ends_with(path, ".json")) return parse_truthfulqa_json(text, path);
  return parse_multiple_choice_bin(text, path);
}

Result<TaskResult> multiple_choice_score(const engine::Model& model,
                                         const std::vector<MultipleChoiceTask>& tasks,
                                         const TaskOptions& opts, const TaskCallback& on_task) {
  SequenceEvaluator ev(model, opts);
  APEX_RETURN_IF_ERROR(ev.init_error());
  TaskResult r;
  r.task = "multiple-choice";
  r.n_available = tasks.size();
  std::vector<std::vector<float>> logits;
  for (size_t idx : float_scale_pick(tasks.size(), opts.n_tasks)) {
    const MultipleChoiceTask& task = tasks[idx];
    // llama.cpp refuses the run on such a task; say which one.
    if (task.question.empty() || task.answers.empty()) {
      return make_error("multiple-choice: task {}: empty question or no answers", idx + 1);
    }
    std::vector<std::vector<int32_t>> seqs;
    for (const auto& a : task.answers) {
      if (a.empty()) return make_error("multiple-choice: task {}: an empty answer", idx + 1);
      seqs.push_back(ev.tokenize(task.question + " " + a));
    }
    const size_t prefix = common_prefix(seqs);
    for (const auto& s : seqs) {
      if (prefix == 0 || prefix >= s.size()) {
        return make_error("multiple-choice: task {}: an answer adds no token after the shared prefix", idx + 1);
      }
    }
    if (Status s = ev.eval(seqs, logits); !s) return make_error("multiple-choice: task {}: {}", idx + 1, s.message());
    TaskOutcome o;
    o.index = idx;
    o.gold = 0;
    for (size_t k = 0; k < task.labels.size(); ++k) {
      if (task.labels[k] == 1) {
        o.gold = static_cast<int>(k);
        break;
      }
    }
    o.scores = mean_ending_logprobs(seqs, logits, ev.n_vocab(), prefix, /*float_sum=*/true);
    o.chosen = argmax(o.scores);
    // Correct when the chosen answer is labelled 1 (there may be several).
    if (task.labels[o.chosen] == 1) o.gold = o.chosen;
    add_outcome(r, std::move(o), task.answers.size());
    if (on_task) on_task(r);
  }
  return r;
}

}  // namespace apex::eval
