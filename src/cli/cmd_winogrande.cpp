// apex winogrande MODEL -f FILE [--tasks N] [--ctx N] [--threads N] [--json]:
// llama-perplexity --winogrande's score with apex's own engine.
#include <memory>

#include "cli/commands.h"
#include "cli/task_cli.h"
#include "eval/tasks_winogrande.h"

namespace apex::cli {

Command make_winogrande() {
  auto args = std::make_shared<TaskArgs>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "winogrande",
        "Winogrande accuracy as llama-perplexity --winogrande computes it (partial scoring: the\n"
        "words after the blank, averaged). FILE: llama.cpp's CSV (index,sentence,option1,option2,\n"
        "answer) or llm-foundry's .jsonl (context_options, continuation, gold). --tasks N picks\n"
        "N tasks with llama.cpp's rule (std::mt19937 seed 1). Prints accuracy +/- stderr.");
    add_task_flags(*sub, *args, "Winogrande task file (.csv or .jsonl)", "tasks to evaluate (default 0: all)");
    return sub;
  };
  c.run = [args]() {
    auto tasks = eval::read_winogrande(args->file);
    if (!tasks) return fail(tasks.message());
    return run_task_command(*args, [&](const engine::Model& model, const eval::TaskCallback& cb) {
      return eval::winogrande_score(model, *tasks, args->opts, cb);
    });
  };
  return c;
}

static const CommandRegistration kRegistered{90, make_winogrande};

}  // namespace apex::cli
