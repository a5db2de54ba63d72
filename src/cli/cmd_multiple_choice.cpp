// apex multiple-choice MODEL -f FILE [--tasks N] [--ctx N] [--threads N] [--json]:
// llama-perplexity --multiple-choice's score with apex's own engine.
#include <memory>

#include "cli/commands.h"
#include "cli/task_cli.h"
#include "eval/tasks_multiple_choice.h"

namespace apex::cli {

Command make_multiple_choice() {
  auto args = std::make_shared<TaskArgs>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "multiple-choice",
        "Single-answer multiple choice (MMLU, ARC, TruthfulQA mc1) as llama-perplexity\n"
        "--multiple-choice computes it: each answer scored by the mean log-probability of its\n"
        "tokens after the question. FILE: llama.cpp's .bin, ARC .jsonl (query, choices, gold),\n"
        "MMLU .csv (question,choice0..3,answer) or TruthfulQA mc_task.json. --tasks N picks N\n"
        "tasks with llama.cpp's rule (std::mt19937 seed 1). Prints accuracy +/- stderr.");
    add_task_flags(*sub, *args, "task file (.bin, .jsonl, .csv or .json)", "tasks to evaluate (default 0: all)");
    return sub;
  };
  c.run = [args]() {
    auto tasks = eval::read_multiple_choice(args->file);
    if (!tasks) return fail(tasks.message());
    return run_task_command(*args, [&](const engine::Model& model, const eval::TaskCallback& cb) {
      return eval::multiple_choice_score(model, *tasks, args->opts, cb);
    });
  };
  return c;
}

static const CommandRegistration kRegistered{100, make_multiple_choice};

}  // namespace apex::cli
