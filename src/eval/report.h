// `apex eval`: several model files measured against one base on the same
// text and the same tasks, the numbers a model card shows (APEX's benchmark
// tables): size, perplexity, KL divergence against the base, same top token,
// RMS delta p, and task accuracies.
//
// Nothing is computed here that the single-purpose commands do not compute:
//   - the base runs eval::perplexity() once with --save-logits into a temp
//     file (llama-perplexity's log-probability format), so its PPL is
//     `apex perplexity BASE`'s;
//   - every other model runs eval::kl_divergence() against that file, so its
//     KLD, delta p, same-top and PPL(Q) are `apex kld BASE MODEL`'s;
//   - tasks go through hellaswag_score / winogrande_score /
//     multiple_choice_score with the task counts of the suite, so each
//     accuracy is `apex hellaswag|winogrande|multiple-choice --tasks N`'s.
// Suites (how many chunks and tasks) are a table of data (report_suites()).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/kl_divergence.h"
#include "eval/tasks_common.h"
#include "eval/tasks_hellaswag.h"
#include "eval/tasks_multiple_choice.h"
#include "eval/tasks_winogrande.h"
#include "util/status.h"

namespace apex::eval {

// ---- benchmarks -------------------------------------------------------------

enum class ReportTask { hellaswag, winogrande, arc_easy, arc_challenge, mmlu, truthfulqa };
inline constexpr size_t kReportTaskCount = 6;

struct ReportTaskInfo {
  ReportTask task;
  const char* key;        // JSON key and flag name: "hellaswag", "arc-easy", ...
  const char* column;     // table column: "HS", "WG", "ARC-e", ...
  const char* title;      // "HellaSwag (acc_norm)"
  const char* data_path;  // where --data DIR holds it (a file, or a folder of CSVs for MMLU)
};

// One row per benchmark, in table order.
std::span<const ReportTaskInfo> report_tasks();
const ReportTaskInfo& report_task_info(ReportTask t);

// ---- suites -----------------------------------------------------------------

struct ReportSuite {
  std::string name;
  std::string description;
  int64_t n_ctx = 512;
  int ppl_chunks = -1;                              // -1: every chunk the text holds
  std::array<size_t, kReportTaskCount> n_tasks{};  // per benchmark, 0: all
};

// "quick" and "full".
std::span<const ReportSuite> report_suites();
Result<ReportSuite> find_report_suite(const std::string& name);

// ---- inputs -----------------------------------------------------------------

struct ReportInputs {
  std::string base;                 // reference model (F16 / BF16 / F32)
  std::vector<std::string> models;  // evaluated against it, in table order
  std::string text;                 // PPL / KLD text
  ReportSuite suite;
  std::array<std::string, kReportTaskCount> task_files;  // "" = benchmark not run
  int64_t n_batch = 512;
  int64_t task_ctx = 0;  // positions per task candidate (0: the model's context)
};

// The benchmark files a --data folder holds (those present; the rest stay "").
// Error when the folder does not exist.
Result<std::array<std::string, kReportTaskCount>> find_task_files(const std::string& data_dir);

// ---- results ----------------------------------------------------------------

struct ModelSize {
  uint64_t file_bytes = 0;    // the whole file
  uint64_t tensor_bytes = 0;  // tensor data only
  int64_t n_params = 0;       // elements over every tensor
  double gib() const { return static_cast<double>(file_bytes) / (1024.0 * 1024.0 * 1024.0); }
  // Bits per weight as llama.cpp prints it: tensor bytes * 8 / elements.
  double bpw() const { return n_params > 0 ? 8.0 * static_cast<double>(tensor_bytes) / n_params : 0.0; }
};

struct ModelReport {
  std::string path;
  std::string label;  // file name without .gguf
  std::string mix;    // apex.profile when present, else the file type name ("Q4_K_M")
  bool is_base = false;
  ModelSize size;
  ValueWithError ppl;          // base: perplexity(); others: PPL(Q) of kl_divergence()
  std::optional<KldResult> kld;  // absent for the base
  std::array<std::optional<TaskResult>, kReportTaskCount> tasks;
};

struct Report {
  std::string suite;
  std::string base, text;
  int64_t n_ctx = 0;
  int n_chunks = 0;
  int64_t n_scored = 0;  // tokens scored per model
  int64_t task_ctx = 0;  // positions per task candidate (0: each model's context)
  std::array<std::string, kReportTaskCount> task_files;
  std::array<size_t, kReportTaskCount> n_tasks{};  // the suite's counts for the benchmarks run
  std::vector<ModelReport> rows;                   // base first, then the models in order
};

// ---- running ----------------------------------------------------------------

// Where the run is: model `model` of `n_models` (base = 1), its step
// ("perplexity", "kld", "hellaswag", ...) and how far into it.
struct ReportProgress {
  int model = 0, n_models = 0;
  std::string label, step;
  uint64_t done = 0, total = 0;
};
using ReportProgressCallback = std::function<void(const ReportProgress&)>;

// Checks every input before any model is run (so bad input costs nothing
// and is one error): base and models load, every model has the base's
// vocabulary and tokenizes the text to the base's stream, the text holds at
// least two chunks, every task file parses. Then runs the base and each model.
Result<Report> run_report(const ReportInputs& in, const ReportProgressCallback& on_progress = {});

// The numbers, in the units of the single commands' --json (fractions for
// same-top and delta p, percent for accuracies).
nlohmann::json to_json(const Report& r);

// Small helpers shared with the renderers.
const double* kld_percentile(const KldResult& k, double fraction);

}  // namespace apex::eval
