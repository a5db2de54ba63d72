// What `apex eval` shows and writes: the tables of a model card's quality
// section (Markdown for the terminal and report.md, HTML for report.html),
// the size-against-KLD and size-against-PPL plots, and the method note with
// the exact command. write_report() writes every file of --report DIR under
// temp names and renames them only when all are written.
#pragma once

#include <string>
#include <vector>

#include "eval/report.h"
#include "eval/report_svg.h"
#include "util/status.h"

namespace apex::eval {

// A table as cells, rendered as Markdown or HTML.
struct ReportTable {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// "Core metrics" (size, PPL, KLD, same top, RMS delta p) and, when any
// benchmark ran, "Accuracy" (one column per benchmark).
std::vector<ReportTable> report_tables(const Report& r);

std::string table_markdown(const ReportTable& t);
std::string table_html(const ReportTable& t);

// Sizes are shown in MiB when every file is under 1 GiB, else in GiB.
struct SizeUnit {
  const char* name;  // "MiB" / "GiB"
  double bytes;
};
SizeUnit report_size_unit(const Report& r);

ScatterPlot size_kld_plot(const Report& r);  // the base has no KLD and is left out
ScatterPlot size_ppl_plot(const Report& r);

// How the numbers were measured, ending with the command.
std::string method_note_markdown(const Report& r, const std::string& command);

// The text `apex eval` prints: the tables in Markdown.
std::string render_text(const Report& r);
std::string render_markdown(const Report& r, const std::string& command);
std::string render_html(const Report& r, const std::string& command);

// The files of --report DIR.
inline constexpr const char* kReportMarkdown = "report.md";
inline constexpr const char* kReportHtml = "report.html";
inline constexpr const char* kReportKldSvg = "size_vs_kld.svg";
inline constexpr const char* kReportPplSvg = "size_vs_ppl.svg";

// Creates DIR when missing; writes report.md, report.html and the two SVGs
// to temp names beside their targets, then renames them all.
Status write_report(const Report& r, const std::string& dir, const std::string& command);

}  // namespace apex::eval
