#include "eval/tasks_hellaswag.h"

#include "eval/tasks_io.h"

namespace apex::eval {

Result<std::vector<HellaswagTask>> parse_hellaswag(const std::string& text, const std::string& name) {
  const std::vector<std::string> lines = split_lines(text);
  if (lines.empty()) return make_error("{}: no HellaSwag tasks", name);
  std::vector<HellaswagTask> tasks;
  for (size_t t = 0; t * 6 < lines.size(); ++t) {
    const size_t first = t * 6;
    if (first + 6 > lines.size()) {
      return make_error("{}: task {} (line {}): incomplete, {} of its 6 lines present", name, t + 1,
                        first + 1, lines.size() - first);
    }
    HellaswagTask task;
    task.context = lines[first];
    const std::string& label = lines[first + 1];
    if (label.size() != 1 || label[0] < '0' || label[0] > '3') {
      return make_error("{}: task {} (line {}): gold label '{}' is not 0..3", name, t + 1, first + 2, label);
    }
    task.gold = label[0] - '0';
    for (int e = 0; e < 4; ++e) task.endings[e] = lines[first + 2 + e];
    if (task.context.empty()) return make_error("{}: task {} (line {}): empty context", name, t + 1, first + 1);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

Result<std::vector<HellaswagTask>> read_hellaswag(const std::string& path) {
  APEX_ASSIGN_OR_RETURN(std::string text, read_whole_file(path));
  return parse_hellaswag(text, path);
}

Result<TaskResult> hellaswag_score(const engine::Model& model, const std::vector<HellaswagTask>& tasks,
                                   const TaskOptions& opts, const TaskCallback& on_task) {
  SequenceEvaluator ev(model, opts);
  APEX_RETURN_IF_ERROR(ev.init_error());
  TaskResult r;
  r.task = "hellaswag";
  r.n_available = tasks.size();
  // llama.cpp's default count is 400; a count of 0 here means every task.
  const size_t n = opts.n_tasks == 0 ? tasks.size() : opts.n_tasks;
  std::vector<std::vector<float>> logits;
  for (size_t idx : hellaswag_pick(tasks.size(), n)) {
    const HellaswagTask& task = tasks[idx];
    std::vector<std::vector<int32_t>> seqs;
    for (const auto& ending : task.endings) seqs.push_back(ev.tokenize(task.context + " " + ending));
    const size_t prefix = common_prefix(seqs);
    for (const auto& s : seqs) {
      if (prefix == 0 || prefix >= s.size()) {
        return make_error("hellaswag: task {}: an ending adds no token after the shared prefix", idx + 1);
      }
    }
    if (Status s = ev.eval(seqs, logits); !s) return make_error("hellaswag: task {}: {}", idx + 1, s.message());
    TaskOutcome o;
    o.index = idx;
    o.gold = task.gold;
    o.scores = mean_ending_logprobs(seqs, logits, ev.n_vocab(), prefix, /*float_sum=*/false);
    o.chosen = argmax(o.scores);
    add_outcome(r, std::move(o), 4);
    if (on_task) on_task(r);
  }
  return r;
}

}  // namespace apex::eval
