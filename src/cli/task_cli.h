// What the hellaswag, winogrande and multiple-choice commands share: flags,
// thread limit, model loading, running lines and the final line.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/weights.h"
#include "eval/tasks_common.h"

namespace apex::cli {

struct TaskArgs {
  std::string model, file;
  eval::TaskOptions opts;
  int threads = 0;
  bool json = false;
};

void add_task_flags(CLI::App& sub, TaskArgs& args, const std::string& file_help,
                    const std::string& tasks_help);

using TaskRunner =
    std::function<Result<eval::TaskResult>(const engine::Model&, const eval::TaskCallback&)>;

// Loads the model, runs, prints the running lines (text) and the result.
int run_task_command(const TaskArgs& args, const TaskRunner& run);

}  // namespace apex::cli
