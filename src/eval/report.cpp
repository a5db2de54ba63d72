#include "eval/report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/tokenizer/tokenizer.h"
#include "engine/weights.h"
#include "eval/logits_file.h"
#include "eval/perplexity.h"
#include "eval/tasks_io.h"
#include "plan/ftype.h"
#include "util/temp_files.h"

namespace apex::eval {

namespace fs = std::filesystem;

namespace {

// Where the public files of ../shared/data (see SOURCES.md there) sit under
// a --data folder; '|' separates alternatives, the first present wins.
constexpr ReportTaskInfo kTasks[kReportTaskCount] = {
    {ReportTask::hellaswag, "hellaswag", "HS", "HellaSwag (acc_norm)", "hellaswag/hellaswag_val_full.txt"},
    {ReportTask::winogrande, "winogrande", "WG", "Winogrande",
     "winogrande/winogrande-debiased-eval.csv|winogrande/winogrande_dev_llmfoundry.jsonl"},
    {ReportTask::arc_easy, "arc-easy", "ARC-e", "ARC-Easy", "arc/arc_easy_test_llmfoundry.jsonl"},
    {ReportTask::arc_challenge, "arc-challenge", "ARC-c", "ARC-Challenge", "arc/arc_challenge_test_llmfoundry.jsonl"},
    {ReportTask::mmlu, "mmlu", "MMLU", "MMLU", "mmlu/test"},
    {ReportTask::truthfulqa, "truthfulqa", "TQA", "TruthfulQA mc1", "truthfulqa/mc_task.json"},
};

// The suites. quick: a look in minutes on a laptop (16 chunks of 512 tokens,
// 100 tasks per benchmark); full: every chunk of the text and 400 tasks per
// benchmark, the count APEX's published tables use.
const ReportSuite kSuites[] = {
    {"quick", "16 chunks of 512 tokens, 100 tasks per benchmark", 512, 16, {100, 100, 100, 100, 100, 100}},
    {"full", "every chunk of 512 tokens, 400 tasks per benchmark", 512, -1, {400, 400, 400, 400, 400, 400}},
};

size_t index_of(ReportTask t) { return static_cast<size_t>(t); }

using TaskSet = std::variant<std::vector<HellaswagTask>, std::vector<WinograndeTask>, std::vector<MultipleChoiceTask>>;

size_t task_count(const TaskSet& s) {
  return std::visit([](const auto& v) { return v.size(); }, s);
}

// MMLU ships as one CSV per subject: a folder reads every *.csv in name
// order, concatenated (the task picks then run over the whole set).
Result<std::vector<MultipleChoiceTask>> read_multiple_choice_path(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return read_multiple_choice(path);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path().string());
  }
  if (ec) return make_error("{}: cannot list the folder ({})", path, ec.message());
  if (files.empty()) return make_error("{}: no .csv files in the folder", path);
  std::sort(files.begin(), files.end());
  std::vector<MultipleChoiceTask> all;
  for (const auto& f : files) {
    APEX_ASSIGN_OR_RETURN(std::vector<MultipleChoiceTask> part, read_multiple_choice(f));
    all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return all;
}

Result<TaskSet> load_task_set(ReportTask t, const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return make_error("{}: no such {} file", path, report_task_info(t).title);
  switch (t) {
    case ReportTask::hellaswag: {
      APEX_ASSIGN_OR_RETURN(auto v, read_hellaswag(path));
      return TaskSet(std::move(v));
    }
    case ReportTask::winogrande: {
      APEX_ASSIGN_OR_RETURN(auto v, read_winogrande(path));
      return TaskSet(std::move(v));
    }
    default: {
      APEX_ASSIGN_OR_RETURN(auto v, read_multiple_choice_path(path));
      return TaskSet(std::move(v));
    }
  }
}

Result<TaskResult> score_task_set(const engine::Model& model, const TaskSet& set, const TaskOptions& opts,
                                  const TaskCallback& cb) {
  if (const auto* hs = std::get_if<std::vector<HellaswagTask>>(&set)) return hellaswag_score(model, *hs, opts, cb);
  if (const auto* wg = std::get_if<std::vector<WinograndeTask>>(&set)) return winogrande_score(model, *wg, opts, cb);
  return multiple_choice_score(model, std::get<std::vector<MultipleChoiceTask>>(set), opts, cb);
}

ModelSize model_size(const gguf::File& f) {
  ModelSize s;
  s.file_bytes = f.file_size();
  for (const auto& t : f.tensors()) {
    s.tensor_bytes += t.nbytes;
    s.n_params += t.n_elements();
  }
  return s;
}

std::string model_mix(const gguf::File& f) {
  std::string profile;
  if (f.get_string("apex.profile", profile) && !profile.empty()) return "APEX " + profile;
  int64_t ft = 0;
  if (f.get_int("general.file_type", ft)) return plan::ftype_name(static_cast<plan::Ftype>(ft));
  return "";
}

std::string label_of(const std::string& path) { return fs::path(path).stem().string(); }

Result<std::vector<int32_t>> tokenize_text(const engine::Model& model, const std::string& text) {
  auto tk = tok::Tokenizer::from_file(*model.file);
  if (!tk) return tk.error();
  // As llama-perplexity (and `apex perplexity -f`): BOS as the vocabulary says, no special parsing.
  return tk->tokenize(text, /*add_special=*/true, /*parse_special=*/false);
}

// A temp file removed when this goes out of scope (and on Ctrl-C by the
// temp-file handler).
class ScopedTempFile {
 public:
  explicit ScopedTempFile(std::string path) : path_(std::move(path)) { register_temp_file(path_); }
  ~ScopedTempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
    unregister_temp_file(path_);
  }
  ScopedTempFile(const ScopedTempFile&) = delete;
  ScopedTempFile& operator=(const ScopedTempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

nlohmann::json vwe(const ValueWithError& v) { return {{"value", v.value}, {"stderr", v.error}}; }

}  // namespace

std::span<const ReportTaskInfo> report_tasks() { return kTasks; }

const ReportTaskInfo& report_task_info(ReportTask t) { return kTasks[index_of(t)]; }

std::span<const ReportSuite> report_suites() { return kSuites; }

Result<ReportSuite> find_report_suite(const std::string& name) {
  std::string names;
  for (const auto& s : kSuites) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  return make_error("unknown suite '{}' (known: {})", name, names);
}

Result<std::array<std::string, kReportTaskCount>> find_task_files(const std::string& data_dir) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) return make_error("{}: no such data folder", data_dir);
  std::array<std::string, kReportTaskCount> out;
  for (const auto& t : kTasks) {
    std::string rest = t.data_path;
    while (!rest.empty() && out[index_of(t.task)].empty()) {
      const size_t bar = rest.find('|');
      const std::string candidate = rest.substr(0, bar);
      rest = bar == std::string::npos ? "" : rest.substr(bar + 1);
      const fs::path p = fs::path(data_dir) / candidate;
      if (fs::exists(p, ec)) out[index_of(t.task)] = p.string();
    }
  }
  return out;
}

const double* kld_percentile(const KldResult& k, double fraction) {
  for (const auto& p : k.kld_percentiles) {
    if (std::fabs(p.fraction - fraction) < 1e-6) return &p.value;  // stored as float fractions
  }
  return nullptr;
}

Result<Report> run_report(const ReportInputs& in, const ReportProgressCallback& on_progress) {
  if (in.models.empty()) return make_error("eval: no models to evaluate");
  const int n_models = static_cast<int>(in.models.size()) + 1;
  auto progress = [&](int model, const std::string& label, const std::string& step, uint64_t done, uint64_t total) {
    if (on_progress) on_progress({model, n_models, label, step, done, total});
  };

  // ---- check every input before running anything ----
  APEX_ASSIGN_OR_RETURN(std::string text, read_whole_file(in.text));
  std::vector<int32_t> tokens;
  int32_t base_vocab = 0;
  {
    APEX_ASSIGN_OR_RETURN(auto base, engine::load_model(in.base));
    APEX_ASSIGN_OR_RETURN(tokens, tokenize_text(*base, text));
    base_vocab = static_cast<int32_t>(base->config.n_vocab);
    PerplexityOptions po;
    po.n_ctx = in.suite.n_ctx;
    po.n_chunks = in.suite.ppl_chunks;
    if (po.n_ctx < 4) return make_error("eval: context {} is too small", po.n_ctx);
    if (static_cast<int64_t>(tokens.size()) < 2 * po.n_ctx) {
      return make_error("{}: too short: {} tokens, need at least {} (2 x context {})", in.text, tokens.size(),
                        2 * po.n_ctx, po.n_ctx);
    }
    if (po.n_chunks == 0) return make_error("eval: 0 chunks asked for");
  }
  for (const auto& path : in.models) {
    APEX_ASSIGN_OR_RETURN(auto m, engine::load_model(path));
    if (m->config.n_vocab != base_vocab) {
      return make_error("{}: vocabulary of {} tokens, the base {} has {}", path, m->config.n_vocab, in.base,
                        base_vocab);
    }
    APEX_ASSIGN_OR_RETURN(std::vector<int32_t> mine, tokenize_text(*m, text));
    if (mine != tokens) {
      const size_t at = std::mismatch(mine.begin(), mine.end(), tokens.begin(), tokens.end()).first - mine.begin();
      return make_error("{}: tokenizes {} differently from the base {} (first difference at token {})", path,
                        in.text, in.base, at);
    }
  }
  std::array<std::optional<TaskSet>, kReportTaskCount> sets;
  for (const auto& t : kTasks) {
    const std::string& f = in.task_files[index_of(t.task)];
    if (f.empty()) continue;
    APEX_ASSIGN_OR_RETURN(TaskSet s, load_task_set(t.task, f));
    if (task_count(s) == 0) return make_error("{}: no {} tasks in the file", f, t.title);
    sets[index_of(t.task)] = std::move(s);
  }

  Report r;
  r.suite = in.suite.name;
  r.base = in.base;
  r.text = in.text;
  r.n_ctx = in.suite.n_ctx;
  r.task_ctx = in.task_ctx;
  for (const auto& t : kTasks) {
    const size_t i = index_of(t.task);
    if (!sets[i]) continue;
    r.task_files[i] = in.task_files[i];
    r.n_tasks[i] = in.suite.n_tasks[i];
  }

  auto run_tasks = [&](const engine::Model& model, int index, ModelReport& row) -> Status {
    for (const auto& t : kTasks) {
      const size_t i = index_of(t.task);
      if (!sets[i]) continue;
      TaskOptions opts;
      opts.n_tasks = in.suite.n_tasks[i];
      opts.n_batch = in.n_batch;
      opts.n_ctx = in.task_ctx;
      const size_t available = task_count(*sets[i]);
      const uint64_t total = opts.n_tasks == 0 ? available : std::min(opts.n_tasks, available);
      progress(index, row.label, t.key, 0, total);
      auto res = score_task_set(model, *sets[i], opts, [&](const TaskResult& running) {
        progress(index, row.label, t.key, running.outcomes.size(), total);
      });
      if (!res) return make_error("{}: {}: {}", row.path, t.key, res.message());
      row.tasks[i] = std::move(*res);
    }
    return {};
  };

  // ---- the base: perplexity, its log-probabilities kept for every KLD ----
  ScopedTempFile logits((fs::temp_directory_path() / fmt::format("apex-eval-base-{}.bin", ::getpid())).string());
  {
    ModelReport row;
    row.path = in.base;
    row.label = label_of(in.base);
    row.is_base = true;
    APEX_ASSIGN_OR_RETURN(auto base, engine::load_model(in.base));
    row.size = model_size(*base->file);
    row.mix = model_mix(*base->file);
    PerplexityOptions po;
    po.n_ctx = in.suite.n_ctx;
    po.n_chunks = in.suite.ppl_chunks;
    po.n_batch = in.n_batch;
    po.save_logits = logits.path();
    const int64_t available = static_cast<int64_t>(tokens.size()) / po.n_ctx;
    const uint64_t n_chunks = po.n_chunks < 0 ? available : std::min<int64_t>(available, po.n_chunks);
    progress(1, row.label, "perplexity", 0, n_chunks);
    auto ppl = perplexity(*base, tokens, po, [&](int chunk, double) { progress(1, row.label, "perplexity", chunk, n_chunks); });
    if (!ppl) return make_error("{}: {}", in.base, ppl.message());
    row.ppl = {ppl->ppl, ppl->ppl_stderr};
    r.n_chunks = ppl->n_chunks;
    r.n_scored = ppl->n_scored;
    APEX_RETURN_IF_ERROR(run_tasks(*base, 1, row));
    r.rows.push_back(std::move(row));
  }

  // ---- each model against the stored base ----
  for (size_t m = 0; m < in.models.size(); ++m) {
    const int index = static_cast<int>(m) + 2;
    ModelReport row;
    row.path = in.models[m];
    row.label = label_of(row.path);
    APEX_ASSIGN_OR_RETURN(auto model, engine::load_model(row.path));
    row.size = model_size(*model->file);
    row.mix = model_mix(*model->file);
    APEX_ASSIGN_OR_RETURN(LogitsReader reader, LogitsReader::open(logits.path()));
    KldOptions ko;
    ko.n_batch = in.n_batch;
    const uint64_t n_chunks = static_cast<uint64_t>(r.n_chunks);
    progress(index, row.label, "kld", 0, n_chunks);
    auto kld = kl_divergence(*model, reader, ko,
                             [&](const KldChunkLine& l) { progress(index, row.label, "kld", l.chunk, n_chunks); });
    if (!kld) return make_error("{}: {}", row.path, kld.message());
    row.ppl = kld->ppl;
    row.kld = std::move(*kld);
    APEX_RETURN_IF_ERROR(run_tasks(*model, index, row));
    r.rows.push_back(std::move(row));
  }
  return r;
}

nlohmann::json to_json(const Report& r) {
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& t : kTasks) {
    const size_t i = index_of(t.task);
    if (r.task_files[i].empty()) continue;
    tasks[t.key] = {{"file", r.task_files[i]}, {"tasks", r.n_tasks[i]}, {"title", t.title}};
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& m : r.rows) {
    nlohmann::json row = {{"file", m.path},
                          {"label", m.label},
                          {"mix", m.mix},
                          {"base", m.is_base},
                          {"size",
                           {{"bytes", m.size.file_bytes},
                            {"gib", m.size.gib()},
                            {"tensor_bytes", m.size.tensor_bytes},
                            {"params", m.size.n_params},
                            {"bpw", m.size.bpw()}}},
                          {"ppl", vwe(m.ppl)}};
    if (m.kld) {
      const KldResult& k = *m.kld;
      const double* p99 = kld_percentile(k, 0.99);
      const double* p999 = kld_percentile(k, 0.999);
      row["kld"] = {{"mean", k.kld.value},
                    {"stderr", k.kld.error},
                    {"median", k.kld_median},
                    {"p99", p99 ? *p99 : 0.0},
                    {"p99.9", p999 ? *p999 : 0.0},
                    {"max", k.kld_max}};
      row["same_top"] = vwe(k.same_top);
      row["rms_dp"] = vwe(k.rms_p_diff);
      row["ln_ppl_ratio"] = vwe(k.ln_ppl_ratio);
    } else {
      row["kld"] = nullptr;
      row["same_top"] = nullptr;
      row["rms_dp"] = nullptr;
      row["ln_ppl_ratio"] = nullptr;
    }
    nlohmann::json acc = nlohmann::json::object();
    for (const auto& t : kTasks) {
      const auto& res = m.tasks[index_of(t.task)];
      if (!res) continue;
      acc[t.key] = {{"accuracy", res->accuracy},
                    {"stderr", res->stderr_},
                    {"correct", res->n_correct},
                    {"tasks_evaluated", res->outcomes.size()},
                    {"tasks_available", res->n_available}};
    }
    row["tasks"] = std::move(acc);
    rows.push_back(std::move(row));
  }
  return {{"suite", r.suite},   {"base", r.base},          {"text", r.text},   {"n_ctx", r.n_ctx},
          {"chunks", r.n_chunks}, {"scored_tokens", r.n_scored}, {"task_ctx", r.task_ctx}, {"tasks", tasks}, {"models", rows}};
}

}  // namespace apex::eval
