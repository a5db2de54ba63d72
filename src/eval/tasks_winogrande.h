// Winogrande as llama-perplexity --winogrande scores it. A task is a sentence
// with a blank, two options and the answer; candidate k is
// first + option_k + second. Only the words after the blank are scored when
// both candidates have more than 3 tokens after their common prefix (partial
// scoring: the option word itself is not judged), otherwise everything after
// the common prefix; the last token is left out when more than one would be
// scored. A candidate's score is the mean log-probability of those tokens.
//
// llama.cpp reads the second candidate's first scored token from the wrong
// logits row whenever that token lies inside the common prefix (its own
// FIXME: the row of the first candidate's last token, and earlier ones
// further back). apex reproduces that, so its accuracy is llama.cpp's.
//
// Readers:
//   - llama.cpp's CSV (ikawrakow's winogrande-debiased-eval.csv):
//     index,sentence,option1,option2,answer with answer 1|2 and a '_' blank;
//     the sentence may be double-quoted. A header line is skipped.
//   - llm-foundry's JSONL: {"context_options": [A, B], "continuation": C,
//     "gold": 0|1}; first = the options' longest common prefix cut back to
//     its last space, option_k = the rest of context_options[k],
//     second = " " + continuation (so each candidate text is
//     context_options[k] + " " + continuation).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "eval/tasks_common.h"

namespace apex::eval {

struct WinograndeTask {
  std::string first, second;  // the sentence before and after the blank
  std::array<std::string, 2> choices;
  int answer = 1;  // 1 or 2, as llama.cpp's CSV
};

Result<std::vector<WinograndeTask>> parse_winogrande_csv(const std::string& text, const std::string& name);
Result<std::vector<WinograndeTask>> parse_winogrande_jsonl(const std::string& text, const std::string& name);
// By extension: .jsonl / .json -> JSONL, anything else -> CSV.
Result<std::vector<WinograndeTask>> read_winogrande(const std::string& path);

Result<TaskResult> winogrande_score(const engine::Model& model, const std::vector<WinograndeTask>& tasks,
                                    const TaskOptions& opts, const TaskCallback& on_task = {});

}  // namespace apex::eval
