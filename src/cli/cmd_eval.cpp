// apex eval MODEL... --base F16.gguf [--suite quick|full] [-f TEXT] [--data DIR] [--json] [--report DIR]:
// PPL, KLD against the base and task accuracies of several files in one run,
// printed as a model card's tables; --report writes report.md, report.html
// and the size-against-KLD / size-against-PPL plots.
#include <fmt/format.h>
#include <tbb/global_control.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "eval/report.h"
#include "eval/report_render.h"
#include "util/progress.h"

namespace apex::cli {

namespace {

// The command as typed (read back from /proc), for the report's method note;
// arguments that a shell would split or expand are single-quoted.
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw{std::istreambuf_iterator<char>(in), {}};
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\0') {
      args.push_back(raw.substr(start, i - start));
      start = i + 1;
    }
  }
  if (args.empty()) return "apex eval";
  args[0] = "apex";
  std::string out;
  for (const auto& a : args) {
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789-_./=:,+@%") == std::string::npos;
    std::string quoted = a;
    if (!plain) {
      quoted = "'";
      for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      quoted += "'";
    }
    out += (out.empty() ? "" : " ") + quoted;
  }
  return out;
}

// Progress on stderr: a bar per step on a terminal, else one line per step.
class StepPrinter {
 public:
  void operator()(const eval::ReportProgress& p) {
    const std::string step = fmt::format("[{}/{}] {}: {}", p.model, p.n_models, p.label, p.step);
    if (step != current_) {
      if (bar_) bar_->finish();
      bar_.reset();
      current_ = step;
      if (ProgressBar::stderr_is_terminal()) {
        bar_ = std::make_unique<ProgressBar>(step, p.total);
      } else {
        fmt::print(stderr, "apex eval: {} ({} {})\n", step, p.total, p.step == "perplexity" || p.step == "kld"
                                                                          ? "chunks" : "tasks");
      }
      done_ = 0;
    }
    if (bar_ && p.done > done_) {
      bar_->advance(p.done - done_);
      done_ = p.done;
    }
  }
  void finish() {
    if (bar_) bar_->finish();
    bar_.reset();
  }

 private:
  std::string current_;
  std::unique_ptr<ProgressBar> bar_;
  uint64_t done_ = 0;
};

}  // namespace

Command make_eval() {
  struct Args {
    std::vector<std::string> models;
    std::string base, text, data, report, suite = "quick";
    std::array<std::string, eval::kReportTaskCount> task_files;
    int chunks = -2;  // -2: the suite's
    int64_t ctx = 0;  // 0: the suite's
    int64_t tasks = -1;
    int64_t task_ctx = 0;
    int64_t batch = 512;
    int threads = 0;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "eval",
        "Several quantized files against one base, in one run: file size and bits per weight,\n"
        "perplexity, KL divergence (mean, median, p99, p99.9, max), RMS delta p and same top\n"
        "token against the base, and task accuracies. The base's log-probabilities are computed\n"
        "once and reused for every model; every figure is the one `apex perplexity`, `apex kld`\n"
        "and `apex hellaswag|winogrande|multiple-choice` print for the same inputs.\n"
        "\n"
        "  apex eval Q4_K_M.gguf I-Quality.gguf --base F16.gguf -f wiki.test.raw\n"
        "  apex eval *.gguf --base F16.gguf --data ../shared/data --suite full --report card/\n"
        "\n"
        "Suites: quick (16 chunks of 512 tokens, 100 tasks per benchmark), full (every chunk,\n"
        "400 tasks per benchmark); --chunks, --ctx and --tasks override them. --data DIR finds\n"
        "the benchmark files by their usual names (hellaswag/hellaswag_val_full.txt, winogrande/,\n"
        "arc/, mmlu/test/, truthfulqa/mc_task.json) and wikitext-2-raw/wiki.test.raw as the text\n"
        "when -f is not given; the per-benchmark flags name files directly. --report DIR writes\n"
        "report.md (the tables, plots and a method note with this command: the section a model\n"
        "card pastes), report.html (self-contained) and size_vs_kld.svg / size_vs_ppl.svg.");
    sub->add_option("models", args->models, "GGUF files to evaluate against the base")->required();
    sub->add_option("--base", args->base, "reference model (F16/BF16/F32 GGUF)")->required();
    sub->add_option("--suite", args->suite, "quick (default) or full");
    sub->add_option("-f,--file", args->text, "text for PPL/KLD (default with --data: wikitext-2-raw/wiki.test.raw)");
    sub->add_option("--data", args->data, "folder holding the benchmark files (as ../shared/data)");
    for (const auto& t : eval::report_tasks()) {
      sub->add_option(std::string("--") + t.key, args->task_files[static_cast<size_t>(t.task)],
                      fmt::format("{} file (overrides --data){}", t.title,
                                  t.task == eval::ReportTask::mmlu ? "; a folder reads every .csv in it" : ""));
    }
    sub->add_option("--chunks", args->chunks, "PPL/KLD chunks (-1: all; default: the suite's)");
    sub->add_option("--ctx", args->ctx, "tokens per PPL/KLD chunk (default: the suite's, 512)");
    sub->add_option("--tasks", args->tasks, "tasks per benchmark (0: all; default: the suite's)");
    sub->add_option("--task-ctx", args->task_ctx,
                    "positions per task candidate (default: the model's context; as the task commands' --ctx)");
    sub->add_option("--batch", args->batch, "tokens per forward batch (default 512)");
    sub->add_option("--threads,-t", args->threads, "worker threads (default: all cores)");
    sub->add_option("--report", args->report, "write report.md, report.html and the SVG plots into this folder");
    sub->add_flag("--json", args->json, "machine-readable output");
    return sub;
  };
  c.run = [args]() {
    auto suite = eval::find_report_suite(args->suite);
    if (!suite) return fail(suite.message());
    eval::ReportInputs in;
    in.base = args->base;
    in.models = args->models;
    in.suite = *suite;
    in.n_batch = args->batch;
    in.task_ctx = args->task_ctx;
    if (args->chunks != -2) in.suite.ppl_chunks = args->chunks;
    if (args->ctx > 0) in.suite.n_ctx = args->ctx;
    if (args->tasks >= 0) in.suite.n_tasks.fill(static_cast<size_t>(args->tasks));
    in.text = args->text;
    if (!args->data.empty()) {
      auto found = eval::find_task_files(args->data);
      if (!found) return fail(found.message());
      in.task_files = *found;
      if (in.text.empty()) in.text = args->data + "/wikitext-2-raw/wiki.test.raw";
    }
    for (size_t i = 0; i < in.task_files.size(); ++i) {
      if (!args->task_files[i].empty()) in.task_files[i] = args->task_files[i];
    }
    if (in.text.empty()) return fail("eval: give -f TEXT (or --data DIR holding wikitext-2-raw/wiki.test.raw)");

    std::unique_ptr<tbb::global_control> limit;
    if (args->threads > 0) {
      limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    static_cast<size_t>(args->threads));
    }
    StepPrinter printer;
    auto report = eval::run_report(in, [&](const eval::ReportProgress& p) { printer(p); });
    printer.finish();
    if (!report) return fail(report.message());
    const std::string command = command_line();
    if (!args->report.empty()) {
      if (Status s = eval::write_report(*report, args->report, command); !s) return fail(s.message());
    }
    if (args->json) {
      nlohmann::json j = eval::to_json(*report);
      j["command"] = command;
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}", eval::render_text(*report));
      if (!args->report.empty()) fmt::print("Report written to {}/\n", args->report);
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{75, make_eval};

}  // namespace apex::cli
