// apex imatrix info FILE [--json] [--experts N]
// apex imatrix merge A B ... -o OUT [--format gguf|dat] [--chunk-size N]
// apex imatrix convert IN OUT [--format gguf|dat] [--chunk-size N]
#include "cli/cmd_imatrix_tools.h"

#include <fmt/format.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "imatrix/coverage.h"
#include "imatrix/imatrix.h"
#include "imatrix/tools.h"

namespace apex::cli {
namespace {

// --format, else the extension: ".dat" is legacy, anything else GGUF.
bool wants_dat(const std::string& path, const std::string& format) {
  if (!format.empty()) return format == "dat";
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".dat") == 0;
}

Status save(const imatrix::Imatrix& m, const std::string& path, const std::string& format, int32_t chunk_size) {
  if (wants_dat(path, format)) {
    if (m.format == imatrix::Format::kGguf && m.chunk_size <= 0) {
      return make_error("{}: the imatrix records no chunk size, needed to write .dat", path);
    }
    return imatrix::save_dat(m, path);
  }
  return imatrix::save_gguf(m, path, chunk_size > 0 ? chunk_size : 512);
}

int run_info(const ImatrixTools& t) {
  const std::string& path = t.inputs.front();
  auto m = imatrix::load(path);
  if (!m) return fail(m.message());
  const auto stats = imatrix::entry_stats(*m);
  const imatrix::Coverage cov = imatrix::coverage(*m, t.experts);
  if (t.json) {
    nlohmann::json j;
    j["file"] = path;
    j["format"] = imatrix::format_name(m->format);
    j["entries"] = m->entries.size();
    j["chunk_count"] = m->chunk_count;
    j["chunk_size"] = m->chunk_size;
    j["datasets"] = m->datasets;
    j["coverage"] = cov.to_json();
    nlohmann::json es = nlohmann::json::array();
    for (const auto& s : stats) {
      es.push_back({{"name", s.name},
                    {"ne0", s.ne0},
                    {"matrices", s.n_mat},
                    {"count_min", s.count_min},
                    {"count_max", s.count_max},
                    {"matrices_without_data", s.mats_without_data},
                    {"min", s.value_min},
                    {"max", s.value_max},
                    {"mean", s.value_mean}});
    }
    j["tensors"] = std::move(es);
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{}: {} imatrix, {} entries, {} chunks{}\n", path, imatrix::format_name(m->format),
             m->entries.size(), m->chunk_count,
             m->chunk_size > 0 ? fmt::format(" of {} tokens", m->chunk_size) : std::string());
  for (const auto& d : m->datasets) fmt::print("  dataset: {}\n", d);
  const bool gguf = m->format == imatrix::Format::kGguf;
  fmt::print("  {:<40} {:>6} {:>4} {:>10} {:>10} {:>5} {:>11} {:>11} {:>11}\n", "tensor", "ne0", "mats",
             gguf ? "count min" : "ncall", gguf ? "count max" : "", "empty", "min", "max", "mean");
  for (const auto& s : stats) {
    fmt::print("  {:<40} {:>6} {:>4} {:>10} {:>10} {:>5} {:>11.4g} {:>11.4g} {:>11.4g}\n", s.name, s.ne0, s.n_mat,
               s.count_min, gguf ? std::to_string(s.count_max) : "", gguf ? std::to_string(s.mats_without_data) : "-",
               s.value_min, s.value_max, s.value_mean);
  }
  fmt::print("{}", cov.table());
  fmt::print("coverage: {}\n", cov.summary());
  return 0;
}

int run_merge(const ImatrixTools& t) {
  if (t.inputs.size() < 2) return fail("imatrix merge: give at least two input files");
  std::vector<imatrix::Imatrix> in;
  for (const auto& p : t.inputs) {
    auto m = imatrix::load(p);
    if (!m) return fail(m.message());
    in.push_back(std::move(m).value());
  }
  // llama-imatrix uses its own --ctx (default 512) as the chunk size; the
  // first GGUF input's chunk size is the natural default here.
  int32_t chunk = t.chunk_size;
  for (const auto& m : in) {
    if (chunk <= 0 && m.format == imatrix::Format::kGguf && m.chunk_size > 0) chunk = m.chunk_size;
  }
  if (chunk <= 0) chunk = 512;
  auto merged = imatrix::merge(in, t.inputs, chunk);
  if (!merged) return fail(merged.message());
  Status s = save(*merged, t.output, t.format, chunk);
  if (!s.ok()) return fail(s.message());
  const imatrix::Coverage cov = imatrix::coverage(*merged);
  if (t.json) {
    nlohmann::json j;
    j["output"] = t.output;
    j["inputs"] = t.inputs;
    j["entries"] = merged->entries.size();
    j["chunk_count"] = merged->chunk_count;
    j["chunk_size"] = merged->chunk_size;
    j["datasets"] = merged->datasets;
    j["coverage"] = cov.to_json();
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{}: {} entries from {} files, {} chunks of {} tokens\ncoverage: {}\n", t.output,
               merged->entries.size(), t.inputs.size(), merged->chunk_count, merged->chunk_size, cov.summary());
  }
  return 0;
}

int run_convert(const ImatrixTools& t) {
  if (t.inputs.size() != 2) return fail("imatrix convert: give IN and OUT");
  const std::string &in = t.inputs[0], &out = t.inputs[1];
  auto m = imatrix::load(in);
  if (!m) return fail(m.message());
  Status s = save(*m, out, t.format, t.chunk_size);
  if (!s.ok()) return fail(s.message());
  const char* to = wants_dat(out, t.format) ? "dat" : "gguf";
  if (t.json) {
    nlohmann::json j;
    j["input"] = in;
    j["output"] = out;
    j["from"] = imatrix::format_name(m->format);
    j["to"] = to;
    j["entries"] = m->entries.size();
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{} ({}) -> {} ({}): {} entries\n", in, imatrix::format_name(m->format), out, to, m->entries.size());
  }
  return 0;
}

}  // namespace

void add_imatrix_tools(CLI::App* imatrix, ImatrixTools& t) {
  t.info = imatrix->add_subcommand(
      "info",
      "What an imatrix file holds: format, entries, chunk count, datasets; per tensor the\n"
      "values per row, matrices (experts), counts, matrices without data and the range and\n"
      "mean of the importance weights; tokens per expert and experts without tokens.");
  t.info->add_option("FILE", t.inputs, "imatrix file (GGUF or legacy .dat)")->required()->expected(1);
  t.info->add_option("--experts", t.experts,
                     "experts per layer, to split the *_exps entries of a .dat file (GGUF files record it)");
  t.info->add_flag("--json", t.json, "machine-readable output");

  t.merge = imatrix->add_subcommand(
      "merge",
      "Combine imatrix files as llama-imatrix --in-file does: per tensor the sums of squared\n"
      "activations and the row counts add (per expert); a .dat input counts as its means x\n"
      "--chunk-size over ncall x --chunk-size rows. Refuses files whose tensor shapes differ.");
  t.merge->add_option("FILES", t.inputs, "imatrix files (GGUF or .dat)")->required()->expected(2, -1);
  t.merge->add_option("-o,--output", t.output, "merged file (.dat by extension, else GGUF)")->required();
  t.merge->add_option("--format", t.format, "gguf or dat (default: by the output's extension)")
      ->check(CLI::IsMember({"gguf", "dat"}));
  t.merge->add_option("--chunk-size", t.chunk_size,
                      "tokens per chunk (default: the first GGUF input's, else 512)");
  t.merge->add_flag("--json", t.json, "machine-readable summary");

  t.convert = imatrix->add_subcommand(
      "convert",
      "Convert between llama.cpp's GGUF imatrix and the legacy .dat format (by the output's\n"
      "extension or --format). .dat -> GGUF stores each mean x --chunk-size (default 512) over\n"
      "ncall x --chunk-size rows, so the importance weights read back unchanged.");
  t.convert->add_option("IN OUT", t.inputs, "input and output imatrix files")->required()->expected(2);
  t.convert->add_option("--format", t.format, "gguf or dat (default: by OUT's extension)")
      ->check(CLI::IsMember({"gguf", "dat"}));
  t.convert->add_option("--chunk-size", t.chunk_size, ".dat -> GGUF: tokens per chunk (default 512)");
  t.convert->add_flag("--json", t.json, "machine-readable summary");
}

std::optional<int> run_imatrix_tools(const ImatrixTools& t) {
  if (t.info != nullptr && t.info->parsed()) return run_info(t);
  if (t.merge != nullptr && t.merge->parsed()) return run_merge(t);
  if (t.convert != nullptr && t.convert->parsed()) return run_convert(t);
  return std::nullopt;
}

}  // namespace apex::cli
