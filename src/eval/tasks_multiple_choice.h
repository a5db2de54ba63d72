// Multiple choice with one correct answer (MMLU, ARC, TruthfulQA mc1, ...) as
// llama-perplexity --multiple-choice scores it: candidate k is
// question + " " + answer_k, scored by the mean log-probability of its tokens
// after the candidates' common prefix (summed in float, as llama.cpp does);
// a task counts when the best-scoring answer is labelled correct.
//
// Readers (by extension):
//   - .bin: llama.cpp's binary format (ikawrakow's *-validation.bin): u32 task
//     count, u32 byte offset per task, then per task the question (u32 length
//     + bytes), mc1 and mc2 as u32 n (<= 100), n strings, n i32 labels; mc2 is
//     read and ignored, as llama.cpp does.
//   - .jsonl: llm-foundry's ARC files: {"query", "choices": [...], "gold"};
//     the query ("Question: ...") is the question as written.
//   - .csv: MMLU as exported from HF cais/mmlu, RFC-4180 with header
//     question,choice0..choiceN,answer (0-based).
//   - .json: TruthfulQA mc_task.json: [{"question", "mc1_targets": {answer: 0|1}}],
//     answers in the file's key order (the true one first).
#pragma once

#include <string>
#include <vector>

#include "eval/tasks_common.h"

namespace apex::eval {

struct MultipleChoiceTask {
  std::string question;
  std::vector<std::string> answers;  // mc1
  std::vector<int> labels;           // 1: correct
};

Result<std::vector<MultipleChoiceTask>> parse_multiple_choice_bin(const std::string& bytes, const std::string& name);
Result<std::vector<MultipleChoiceTask>> parse_arc_jsonl(const std::string& text, const std::string& name);
Result<std::vector<MultipleChoiceTask>> parse_mmlu_csv(const std::string& text, const std::string& name);
Result<std::vector<MultipleChoiceTask>> parse_truthfulqa_json(const std::string& text, const std::string& name);
// Serializes tasks in the .bin format (mc2 written empty).
std::string write_multiple_choice_bin(const std::vector<MultipleChoiceTask>& tasks);
Result<std::vector<MultipleChoiceTask>> read_multiple_choice(const std::string& path);

Result<TaskResult> multiple_choice_score(const engine::Model& model,
                                         const std::vector<MultipleChoiceTask>& tasks,
                                         const TaskOptions& opts, const TaskCallback& on_task = {});

}  // namespace apex::eval
