// HellaSwag as llama-perplexity --hellaswag scores it: each of the four
// candidates is context + " " + ending; the score is the mean log-probability
// of the ending's tokens (the tokens after the four sequences' common prefix),
// and a task counts when the gold ending scores highest (acc_norm).
//
// Reader: llama.cpp's hellaswag_val_full.txt layout, 6 lines per task:
// activity_label + ": " + ctx, the gold index 0..3, the four endings.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "eval/tasks_common.h"

namespace apex::eval {

struct HellaswagTask {
  std::string context;
  int gold = 0;  // 0..3
  std::array<std::string, 4> endings;
};

// Parses the 6-line text format; `name` labels errors ("FILE: task 3 (line 14): ...").
Result<std::vector<HellaswagTask>> parse_hellaswag(const std::string& text, const std::string& name);
Result<std::vector<HellaswagTask>> read_hellaswag(const std::string& path);

Result<TaskResult> hellaswag_score(const engine::Model& model, const std::vector<HellaswagTask>& tasks,
                                   const TaskOptions& opts, const TaskCallback& on_task = {});

}  // namespace apex::eval
