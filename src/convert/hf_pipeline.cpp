#include "convert/hf_pipeline.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "convert/convert.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/weights.h"
#include "eval/report.h"
#include "eval/report_render.h"
#include "gguf/gguf.h"
#include "imatrix/collect.h"
#include "pipeline/apex_quantize.h"
#include "pipeline/quantize_model.h"
#include "plan/profile.h"
#include "quant/type_table.h"
#include "safetensors/safetensors.h"

namespace apex::convert {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// An output from an earlier run is reused only when it opens as a valid
// GGUF (every tensor inside the file): outputs appear by rename, so a file
// that exists was finished, but a truncated copy must not be trusted.
bool complete_gguf(const std::string& path) { return fs::exists(path) && gguf::File::open(path).ok(); }

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open text file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::vector<int32_t>> tokenize_file(const engine::Model& model, const std::string& path) {
  APEX_ASSIGN_OR_RETURN(std::string text, read_text(path));
  APEX_ASSIGN_OR_RETURN(tok::Tokenizer tk, tok::Tokenizer::from_file(*model.file));
  // As llama-imatrix and llama-perplexity: BOS as the vocabulary says, no special parsing.
  return tk.tokenize(text, true, false);
}

std::string model_name(const std::string& hf_dir) {
  const fs::path p = fs::path(hf_dir).lexically_normal();
  return (p.filename().empty() ? p.parent_path().filename() : p.filename()).string();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A report from an earlier run still holds when it names the same files,
// text and chunking and is newer than every file it measured.
bool eval_is_current(const std::string& report_json, const eval::ReportInputs& in) {
  if (!fs::exists(report_json)) return false;
  auto text = read_text(report_json);
  if (!text.ok()) return false;
  const auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("models") || !j["models"].is_array()) return false;
  std::vector<std::string> files = {in.base};
  files.insert(files.end(), in.models.begin(), in.models.end());
  if (j["models"].size() != files.size() || j.value("text", "") != in.text || j.value("n_ctx", int64_t{0}) != in.suite.n_ctx) {
    return false;
  }
  const auto stamp = fs::last_write_time(report_json);
  for (size_t i = 0; i < files.size(); ++i) {
    if (j["models"][i].value("file", "") != files[i] || fs::last_write_time(files[i]) > stamp) return false;
  }
  return true;
}

}  // namespace

Result<PipelineReport> run_pipeline(const PipelineOptions& o, const PipelineCallbacks& cb) {
  if (o.profiles.empty()) return make_error("--profiles: give at least one profile (e.g. quality,compact)");
  // Every profile resolves before hours of work start.
  std::vector<plan::Profile> profiles;
  for (const std::string& p : o.profiles) {
    APEX_ASSIGN_OR_RETURN(plan::Profile prof, plan::load_profile(p));
    if (prof.imatrix_recommended && o.imatrix_text.empty()) {
      return make_error("profile {} needs an importance matrix: give --imatrix-text FILE", prof.name);
    }
    profiles.push_back(std::move(prof));
  }
  for (const std::string* text : {&o.imatrix_text, &o.eval_text}) {
    if (!text->empty() && !fs::exists(*text)) return make_error("{}: no such text file", *text);
  }
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return make_error("{}: cannot create ({})", o.out_dir, ec.message());

  const int n_steps = 1 + (o.imatrix_text.empty() ? 0 : 1) + static_cast<int>(profiles.size()) +
                      (o.eval_text.empty() ? 0 : 1);
  int step_index = 0;
  PipelineReport report;
  auto begin_step = [&](const std::string& name, const std::string& output) -> PipelineStep& {
    if (cb.on_step) cb.on_step(++step_index, n_steps, name);
    report.steps.push_back({name, output, false, 0});
    return report.steps.back();
  };
  auto progress = [&](uint64_t done, uint64_t total, std::string_view detail) {
    if (cb.on_progress) cb.on_progress(done, total, std::string(detail));
  };
  const std::string name = model_name(o.hf_dir);

  // 1. convert
  const std::string base = (fs::path(o.out_dir) / fmt::format("{}-{}.gguf", name, lower(quant::type_name(o.outtype))))
                               .string();
  {
    const auto t0 = Clock::now();
    PipelineStep& s = begin_step("convert", base);
    if (o.resume && complete_gguf(base)) {
      s.skipped = true;
    } else {
      APEX_ASSIGN_OR_RETURN(auto plan, convert_checkpoint({o.hf_dir, base, o.outtype}, progress));
      (void)plan;
    }
    s.seconds = seconds_since(t0);
  }

  // 2. imatrix
  std::string imatrix_path;
  if (!o.imatrix_text.empty()) {
    imatrix_path = (fs::path(o.out_dir) / "imatrix.gguf").string();
    const auto t0 = Clock::now();
    PipelineStep& s = begin_step("imatrix", imatrix_path);
    if (o.resume && complete_gguf(imatrix_path)) {
      s.skipped = true;
    } else {
      APEX_ASSIGN_OR_RETURN(auto model, engine::load_model(base));
      APEX_ASSIGN_OR_RETURN(auto tokens, tokenize_file(*model, o.imatrix_text));
      imatrix::CollectOptions co;
      co.n_ctx = o.imatrix_ctx;
      co.n_chunks = o.imatrix_chunks;
      co.dataset = o.imatrix_text;
      APEX_ASSIGN_OR_RETURN(auto m, imatrix::collect(*model, tokens, co, [&](int chunk, int n_chunks) {
                              progress(static_cast<uint64_t>(chunk), static_cast<uint64_t>(n_chunks), "chunk");
                            }));
      // save_gguf writes through the GGUF writer (temp file, rename).
      APEX_RETURN_IF_ERROR(imatrix::save_gguf(m, imatrix_path));
    }
    s.seconds = seconds_since(t0);
  }

  // 3. one quantized file per profile
  std::vector<std::pair<std::string, std::string>> outputs = {{lower(quant::type_name(o.outtype)), base}};
  for (const plan::Profile& prof : profiles) {
    const std::string out = (fs::path(o.out_dir) / fmt::format("{}-{}.gguf", name, prof.name)).string();
    const auto t0 = Clock::now();
    PipelineStep& s = begin_step("quantize " + prof.name, out);
    if (o.resume && complete_gguf(out)) {
      s.skipped = true;
    } else {
      pipeline::QuantizeJob job;
      job.input = base;
      job.output = out;
      job.imatrix_path = imatrix_path;
      job.threads = o.threads;
      job.progress = false;
      APEX_ASSIGN_OR_RETURN(auto planned, pipeline::apply_profile(job, prof));
      (void)planned;
      APEX_ASSIGN_OR_RETURN(auto q, pipeline::quantize_model(job));
      (void)q;
    }
    s.seconds = seconds_since(t0);
    outputs.emplace_back(prof.name, out);
  }

  // 4. evaluation: apex eval with the converted file as the base.
  for (const auto& [label, path] : outputs) {
    PipelineRow row;
    row.label = label;
    row.path = path;
    APEX_ASSIGN_OR_RETURN(auto f, gguf::File::open(path));
    row.file_bytes = f->file_size();
    uint64_t bytes = 0;
    int64_t n = 0;
    for (const auto& t : f->tensors()) bytes += t.nbytes, n += t.n_elements();
    row.bits_per_weight = n ? 8.0 * static_cast<double>(bytes) / static_cast<double>(n) : 0;
    report.rows.push_back(row);
  }
  if (!o.eval_text.empty()) {
    const std::string report_json = (fs::path(o.out_dir) / "report.json").string();
    const auto t0 = Clock::now();
    PipelineStep& s = begin_step("evaluate", report_json);
    eval::ReportInputs in;
    in.base = base;
    for (size_t i = 1; i < outputs.size(); ++i) in.models.push_back(outputs[i].second);
    in.text = o.eval_text;
    APEX_ASSIGN_OR_RETURN(in.suite, eval::find_report_suite(o.suite));
    in.suite.n_ctx = o.eval_ctx;
    in.suite.ppl_chunks = o.eval_chunks;
    if (!o.data_dir.empty()) {
      APEX_ASSIGN_OR_RETURN(in.task_files, eval::find_task_files(o.data_dir));
    }
    nlohmann::json j;
    if (o.resume && eval_is_current(report_json, in)) {
      s.skipped = true;
      j = nlohmann::json::parse(read_text(report_json).value());
    } else {
      APEX_ASSIGN_OR_RETURN(eval::Report r, eval::run_report(in, [&](const eval::ReportProgress& p) {
                              progress(p.done, p.total, fmt::format("{} {}", p.label, p.step));
                            }));
      APEX_RETURN_IF_ERROR(eval::write_report(r, o.out_dir, o.command));
      j = eval::to_json(r);
      APEX_RETURN_IF_ERROR(st::write_text_file(report_json, j.dump(2) + "\n"));
    }
    report.eval = j;
    report.eval_ctx = j.value("n_ctx", int64_t{0});
    report.eval_chunks = j.value("chunks", 0);
    for (size_t i = 0; i < report.rows.size() && i < j["models"].size(); ++i) {
      const auto& m = j["models"][i];
      report.rows[i].evaluated = true;
      report.rows[i].ppl = m["ppl"]["value"].get<double>();
      report.rows[i].ppl_stderr = m["ppl"]["stderr"].get<double>();
      if (m["kld"].is_object()) report.rows[i].kld = m["kld"]["mean"].get<double>();
    }
    s.seconds = seconds_since(t0);
  }
  return report;
}

nlohmann::json to_json(const PipelineReport& r) {
  nlohmann::json j;
  j["steps"] = nlohmann::json::array();
  for (const auto& s : r.steps) {
    j["steps"].push_back({{"step", s.name}, {"output", s.output}, {"skipped", s.skipped}, {"seconds", s.seconds}});
  }
  j["eval_ctx"] = r.eval_ctx;
  j["eval_chunks"] = r.eval_chunks;
  j["models"] = nlohmann::json::array();
  for (const auto& m : r.rows) {
    nlohmann::json row = {{"label", m.label},
                          {"path", m.path},
                          {"file_bytes", m.file_bytes},
                          {"bits_per_weight", m.bits_per_weight}};
    if (m.evaluated) {
      row["ppl"] = m.ppl;
      row["ppl_stderr"] = m.ppl_stderr;
      row["kld"] = m.kld;
    }
    j["models"].push_back(row);
  }
  j["eval"] = r.eval;
  return j;
}

std::string format_table(const PipelineReport& r) {
  std::string s;
  const bool eval = !r.rows.empty() && r.rows.front().evaluated;
  if (eval) s += fmt::format("Perplexity: {} chunks of {} tokens.\n\n", r.eval_chunks, r.eval_ctx);
  s += eval ? "| model | size (MiB) | BPW | PPL | KLD vs base |\n|---|---:|---:|---:|---:|\n"
            : "| model | size (MiB) | BPW |\n|---|---:|---:|\n";
  for (const auto& m : r.rows) {
    s += fmt::format("| {} | {:.1f} | {:.2f} |", m.label, m.file_bytes / 1048576.0, m.bits_per_weight);
    if (eval) {
      s += fmt::format(" {:.4f} ± {:.4f} | {:.6f} |", m.ppl, m.ppl_stderr, m.kld);
    }
    s += "\n";
  }
  return s;
}

}  // namespace apex::convert
