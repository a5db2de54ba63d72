#include "cli/task_cli.h"

#include <fmt/format.h>
#include <tbb/global_control.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"

namespace apex::cli {

void add_task_flags(CLI::App& sub, TaskArgs& args, const std::string& file_help,
                    const std::string& tasks_help) {
  sub.add_option("model", args.model, "GGUF model")->required();
  sub.add_option("-f,--file", args.file, file_help)->required();
  sub.add_option("--tasks", args.opts.n_tasks, tasks_help);
  sub.add_option("--ctx", args.opts.n_ctx, "positions per candidate sequence (default: the model's context)");
  sub.add_option("--batch", args.opts.n_batch, "tokens per forward batch (default 512)");
  sub.add_option("--threads,-t", args.threads, "worker threads (default: all cores)");
  sub.add_flag("--json", args.json, "machine-readable output");
}

int run_task_command(const TaskArgs& args, const TaskRunner& run) {
  std::unique_ptr<tbb::global_control> limit;
  if (args.threads > 0) {
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  static_cast<size_t>(args.threads));
  }
  auto model = engine::load_model(args.model);
  if (!model) return fail(model.message());
  if (!args.json) fmt::print("task\taccuracy\t95% interval\tchosen\tgold\n");
  auto on_task = [&](const eval::TaskResult& r) {
    if (args.json) return;
    const auto& o = r.outcomes.back();
    const auto [lo, hi] = eval::wilson_interval(r.n_correct, r.outcomes.size());
    fmt::print("{}\t{:.8f}%\t[{:.4f}%, {:.4f}%]\t{}\t{}\n", r.outcomes.size(), r.accuracy, lo, hi,
               o.chosen, o.gold);
    std::fflush(stdout);
  };
  auto r = run(**model, on_task);
  if (!r) return fail(r.message());
  if (args.json) {
    fmt::print("{}\n", eval::to_json(*r).dump(2));
  } else {
    fmt::print("\nFinal {} accuracy ({} of {} tasks): {:.4f} +/- {:.4f}\n", r->task, r->outcomes.size(),
               r->n_available, r->accuracy, r->stderr_);
    fmt::print("Random chance: {:.4f}\n", r->random_chance);
  }
  return 0;
}

}  // namespace apex::cli
