// apex hellaswag MODEL -f FILE [--tasks N] [--ctx N] [--threads N] [--json]:
// llama-perplexity --hellaswag's acc_norm with apex's own engine.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "cli/task_cli.h"
#include "engine/weights.h"
#include "eval/tasks_hellaswag.h"

namespace apex::cli {

Command make_hellaswag() {
  auto args = std::make_shared<TaskArgs>();
  args->opts.n_tasks = 400;  // llama.cpp's --hellaswag-tasks default
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "hellaswag",
        "HellaSwag acc_norm as llama-perplexity --hellaswag computes it: each ending is scored\n"
        "by the mean log-probability of its tokens after the context; --tasks N picks N tasks\n"
        "with llama.cpp's rule (std::mt19937 seed 1). FILE: llama.cpp's 6-lines-per-task text\n"
        "(hellaswag_val_full.txt). Prints the running acc_norm with its 95% interval.");
    add_task_flags(*sub, *args, "HellaSwag task file (6 lines per task)",
                   "tasks to evaluate (default 400, as llama.cpp; 0: all)");
    return sub;
  };
  c.run = [args]() {
    auto tasks = eval::read_hellaswag(args->file);
    if (!tasks) return fail(tasks.message());
    return run_task_command(*args, [&](const engine::Model& model, const eval::TaskCallback& cb) {
      return eval::hellaswag_score(model, *tasks, args->opts, cb);
    });
  };
  return c;
}

static const CommandRegistration kRegistered{80, make_hellaswag};

}  // namespace apex::cli
