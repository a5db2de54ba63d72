#include "eval/report_render.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "util/temp_files.h"

namespace apex::eval {

namespace fs = std::filesystem;

namespace {

constexpr const char* kNone = "--";

std::string pm(double v, double e, int digits) { return fmt::format("{:.{}f} ± {:.{}f}", v, digits, e, digits); }

// A file's name; a folder (MMLU's CSVs) as "parent/name/*.csv".
std::string file_name(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return (p.parent_path().filename() / p.filename()).string() + "/*.csv";
  return p.filename().string();
}

// A label carries a cell of its own; a pipe inside it would end the cell.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

// APEX profiles are the accent points of the plots.
bool is_apex(const ModelReport& m) { return m.mix.rfind("APEX ", 0) == 0; }

bool any_task(const Report& r) {
  for (const auto& f : r.task_files) {
    if (!f.empty()) return true;
  }
  return false;
}

}  // namespace

SizeUnit report_size_unit(const Report& r) {
  for (const auto& m : r.rows) {
    if (m.size.file_bytes >= (1ull << 30)) return {"GiB", 1024.0 * 1024.0 * 1024.0};
  }
  return {"MiB", 1024.0 * 1024.0};
}

std::vector<ReportTable> report_tables(const Report& r) {
  const SizeUnit unit = report_size_unit(r);
  std::vector<ReportTable> out;
  ReportTable core;
  core.title = "Core metrics";
  core.header = {"Model", "Mix", fmt::format("Size ({})", unit.name), "BPW", "PPL", "KLD mean", "KLD median",
                 "KLD p99", "KLD p99.9", "KLD max", "RMS Δp", "Same top"};
  for (const auto& m : r.rows) {
    std::vector<std::string> row = {m.label + (m.is_base ? " (base)" : ""), m.mix.empty() ? kNone : m.mix,
                                    fmt::format("{:.2f}", m.size.file_bytes / unit.bytes),
                                    fmt::format("{:.2f}", m.size.bpw()), pm(m.ppl.value, m.ppl.error, 4)};
    if (m.kld) {
      const KldResult& k = *m.kld;
      const double* p99 = kld_percentile(k, 0.99);
      const double* p999 = kld_percentile(k, 0.999);
      row.push_back(pm(k.kld.value, k.kld.error, 5));
      row.push_back(fmt::format("{:.5f}", k.kld_median));
      row.push_back(p99 ? fmt::format("{:.4f}", *p99) : kNone);
      row.push_back(p999 ? fmt::format("{:.4f}", *p999) : kNone);
      row.push_back(fmt::format("{:.4f}", k.kld_max));
      row.push_back(fmt::format("{:.3f}%", 100.0 * k.rms_p_diff.value));
      row.push_back(fmt::format("{:.2f}%", 100.0 * k.same_top.value));
    } else {
      for (int i = 0; i < 7; ++i) row.push_back(kNone);
    }
    core.rows.push_back(std::move(row));
  }
  out.push_back(std::move(core));

  if (any_task(r)) {
    ReportTable acc;
    acc.title = "Accuracy (%, ± one standard error)";
    acc.header = {"Model"};
    for (const auto& t : report_tasks()) {
      if (!r.task_files[static_cast<size_t>(t.task)].empty()) acc.header.push_back(t.column);
    }
    for (const auto& m : r.rows) {
      std::vector<std::string> row = {m.label + (m.is_base ? " (base)" : "")};
      for (const auto& t : report_tasks()) {
        const size_t i = static_cast<size_t>(t.task);
        if (r.task_files[i].empty()) continue;
        row.push_back(m.tasks[i] ? pm(m.tasks[i]->accuracy, m.tasks[i]->stderr_, 2) : kNone);
      }
      acc.rows.push_back(std::move(row));
    }
    out.push_back(std::move(acc));
  }
  return out;
}

std::string table_markdown(const ReportTable& t) {
  std::string s = "| ";
  for (const auto& h : t.header) s += md_cell(h) + " | ";
  s.pop_back();
  s += "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) s += i == 0 ? "---|" : "---:|";
  s += "\n";
  for (const auto& row : t.rows) {
    s += "| ";
    for (const auto& c : row) s += md_cell(c) + " | ";
    s.pop_back();
    s += "\n";
  }
  return s;
}

std::string table_html(const ReportTable& t) {
  std::string s = "<table>\n<thead><tr>";
  for (const auto& h : t.header) s += "<th>" + xml_escape(h) + "</th>";
  s += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    s += "<tr>";
    for (const auto& c : row) s += "<td>" + xml_escape(c) + "</td>";
    s += "</tr>\n";
  }
  s += "</tbody>\n</table>\n";
  return s;
}

ScatterPlot size_kld_plot(const Report& r) {
  const SizeUnit unit = report_size_unit(r);
  ScatterPlot p;
  p.title = "Size against KL divergence (lower left is better)";
  p.x_label = fmt::format("file size ({})", unit.name);
  p.y_label = "mean KLD vs " + file_name(r.base) + " (log scale)";
  p.y_log = true;
  for (const auto& m : r.rows) {
    if (!m.kld) continue;
    p.points.push_back({m.size.file_bytes / unit.bytes, m.kld->kld.value, m.label, is_apex(m)});
  }
  return p;
}

ScatterPlot size_ppl_plot(const Report& r) {
  const SizeUnit unit = report_size_unit(r);
  ScatterPlot p;
  p.title = "Size against perplexity (lower left is better)";
  p.x_label = fmt::format("file size ({})", unit.name);
  p.y_label = "perplexity on " + file_name(r.text);
  for (const auto& m : r.rows) {
    p.points.push_back({m.size.file_bytes / unit.bytes, m.ppl.value, m.label, is_apex(m)});
  }
  return p;
}

std::string method_note_markdown(const Report& r, const std::string& command) {
  std::string s;
  s += fmt::format(
      "Measured with apex {} (`apex eval`, suite `{}`). Perplexity and KL divergence on `{}`: {} chunks of {} "
      "tokens, {} tokens scored per model, llama-perplexity's method (BOS at each chunk start, the second half "
      "of each chunk scored). KLD, RMS Δp and same-top are against the log-probabilities of `{}`, computed once "
      "and stored in llama-perplexity's `--kl-divergence-base` format; each model's PPL is PPL(Q) of that "
      "comparison (the base's is its own perplexity run).",
      APEX_VERSION, r.suite, file_name(r.text), r.n_chunks, r.n_ctx, r.n_scored, file_name(r.base));
  std::vector<std::string> tasks;
  for (const auto& t : report_tasks()) {
    const size_t i = static_cast<size_t>(t.task);
    if (r.task_files[i].empty()) continue;
    size_t evaluated = 0, available = 0;
    for (const auto& m : r.rows) {
      if (m.tasks[i]) evaluated = m.tasks[i]->outcomes.size(), available = m.tasks[i]->n_available;
    }
    tasks.push_back(fmt::format("{} {} of {} tasks (`{}`)", t.title, evaluated, available, file_name(r.task_files[i])));
  }
  if (!tasks.empty()) {
    s += " Accuracy with llama-perplexity's scoring and task picks (std::mt19937 seed 1): ";
    for (size_t i = 0; i < tasks.size(); ++i) s += (i ? "; " : "") + tasks[i];
    s += ". ± is one standard error.";
    if (r.task_ctx > 0) s += fmt::format(" Task candidates were evaluated with a context of {} positions.", r.task_ctx);
  }
  s += "\n\n```\n" + command + "\n```\n";
  return s;
}

std::string render_text(const Report& r) {
  std::string s;
  for (const auto& t : report_tables(r)) s += t.title + "\n\n" + table_markdown(t) + "\n";
  return s;
}

std::string render_markdown(const Report& r, const std::string& command) {
  std::string s = "## Quantization quality\n\n";
  for (const auto& t : report_tables(r)) s += "### " + t.title + "\n\n" + table_markdown(t) + "\n";
  s += fmt::format("![Size against KL divergence]({})\n\n![Size against perplexity]({})\n\n", kReportKldSvg,
                   kReportPplSvg);
  s += "### Method\n\n" + method_note_markdown(r, command);
  return s;
}

std::string render_html(const Report& r, const std::string& command) {
  std::string s;
  s += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  s += "<title>Quantization quality: " + xml_escape(file_name(r.base)) + "</title>\n";
  s += "<style>\n"
       "body{font-family:sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}\n"
       "table{border-collapse:collapse;margin:1em 0;font-size:14px}\n"
       "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}\n"
       "th:first-child,td:first-child{text-align:left}\n"
       "thead{background:#f1f3f5}\n"
       "figure{margin:1em 0}\n"
       "pre{background:#f8f9fa;padding:8px;overflow-x:auto}\n"
       "</style>\n</head>\n<body>\n";
  s += "<h2>Quantization quality</h2>\n";
  for (const auto& t : report_tables(r)) s += "<h3>" + xml_escape(t.title) + "</h3>\n" + table_html(t);
  s += "<figure>\n" + render_scatter_svg(size_kld_plot(r)) + "</figure>\n";
  s += "<figure>\n" + render_scatter_svg(size_ppl_plot(r)) + "</figure>\n";
  // The method note's Markdown, turned into HTML by hand: its only markup is
  // `code` spans and the fenced command.
  const std::string note = method_note_markdown(r, command);
  const size_t fence = note.find("\n\n```\n");
  std::string prose = xml_escape(note.substr(0, fence)), html;
  bool in_code = false;
  for (char c : prose) {
    if (c == '`') {
      html += in_code ? "</code>" : "<code>";
      in_code = !in_code;
    } else {
      html += c;
    }
  }
  s += "<h3>Method</h3>\n<p>" + html + "</p>\n<pre><code>" + xml_escape(command) + "</code></pre>\n";
  s += "</body>\n</html>\n";
  return s;
}

Status write_report(const Report& r, const std::string& dir, const std::string& command) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) return make_error("{}: cannot create the report folder", dir);
  const std::vector<std::pair<std::string, std::string>> files = {
      {kReportMarkdown, render_markdown(r, command)},
      {kReportHtml, render_html(r, command)},
      {kReportKldSvg, render_scatter_svg(size_kld_plot(r))},
      {kReportPplSvg, render_scatter_svg(size_ppl_plot(r))},
  };
  std::vector<std::pair<std::string, std::string>> written;  // temp, target
  auto drop_temps = [&] {
    for (const auto& [tmp, target] : written) {
      fs::remove(tmp, ec);
      unregister_temp_file(tmp);
    }
  };
  for (const auto& [name, content] : files) {
    const std::string target = (fs::path(dir) / name).string();
    const std::string tmp = (fs::path(dir) / fmt::format(".{}.tmp-{}", name, ::getpid())).string();
    register_temp_file(tmp);
    written.push_back({tmp, target});
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      drop_temps();
      return make_error("{}: cannot write", tmp);
    }
  }
  for (const auto& [tmp, target] : written) {
    fs::rename(tmp, target, ec);
    if (ec) {
      drop_temps();
      return make_error("{}: cannot rename to {} ({})", tmp, target, ec.message());
    }
    unregister_temp_file(tmp);
  }
  return {};
}

}  // namespace apex::eval
