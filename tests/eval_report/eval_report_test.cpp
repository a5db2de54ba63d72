// apex eval against the single commands it stands for: every number of its
// --json equals what `apex perplexity`, `apex kld` and the task commands
// (each checked against the oracle in tests/eval and tests/eval_tasks) print
// for the same inputs; the SVG plots put each model where its size and KLD /
// PPL say (read back from the drawn ticks); report.md and report.html hold a
// row per model; bad input is one line and leaves no report behind.
//
// Inputs: the tiny trained MoE (F16 base) and its Q8_0 and Q4_K_M made by
// apex quantize, 3 chunks of 128 tokens, 3 tasks per benchmark from the
// public files in ../shared/data (cut down where the format allows).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <regex>
#include <sstream>

#include "cli/cli_test_support.h"
#include "engine/engine_test_support.h"
#include "eval/tasks_multiple_choice.h"
#include "gguf/gguf.h"
#include "synth/synth.h"

namespace {

namespace fs = std::filesystem;
using apex::testing::RunResult;
using apex::testing::slurp;
using nlohmann::json;

const std::string kShared = APEX_SHARED_DIR;
constexpr const char* kWindow = "--ctx 128 --chunks 3";
constexpr int kTasks = 3;

std::string first_lines(const std::string& path, int n) {
  std::ifstream in(path);
  std::string line, out;
  for (int i = 0; i < n && std::getline(in, line); ++i) out += line + "\n";
  return out;
}

struct Fixture {
  fs::path dir = apex::testing::cli_scratch("apex_eval_report");
  std::string base = apex::engine::testing::tiny_model_path();
  std::vector<std::string> quants;
  std::string text;
  // benchmark flag -> file, and the single command scoring it
  std::vector<std::tuple<std::string, std::string, std::string>> tasks;
  RunResult eval;
  json j;
  bool have_inputs = false;

  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  RunResult run(const std::string& args) const { return apex::testing::run_apex(dir, args); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  std::string report() const { return file("report"); }
};

void set_up(Fixture& f) {
  const std::string data = kShared + "/data";
  if (!fs::exists(f.base) || !fs::exists(data + "/hellaswag/hellaswag_val_full.txt")) return;
  f.have_inputs = true;
  f.text = f.file("text.txt");
  std::ofstream(f.text, std::ios::binary) << slurp(kShared + "/models/tiny-moe-eval.txt").substr(0, 4000);
  for (const char* ft : {"Q8_0", "Q4_K_M"}) {
    const std::string out = f.file(std::string("tiny-") + ft + ".gguf");
    const RunResult q = f.run("quantize --no-progress " + f.base + " " + out + " " + ft);
    ASSERT_EQ(q.exit_code, 0) << q.err;
    f.quants.push_back(out);
  }
  // Small copies of the public files (the task picks run over what is given).
  const std::string hs = f.file("hellaswag.txt"), wg = f.file("winogrande.jsonl"), arc = f.file("arc.jsonl");
  std::ofstream(hs) << first_lines(data + "/hellaswag/hellaswag_val_full.txt", 6 * 40);
  std::ofstream(wg) << first_lines(data + "/winogrande/winogrande_dev_llmfoundry.jsonl", 40);
  std::ofstream(arc) << first_lines(data + "/arc/arc_challenge_test_llmfoundry.jsonl", 40);
  // MMLU as a folder of two subjects; the single command gets their
  // concatenation (in name order) as one llama.cpp .bin.
  const fs::path mmlu = f.dir / "mmlu";
  fs::create_directories(mmlu);
  std::vector<apex::eval::MultipleChoiceTask> all;
  for (const char* subject : {"anatomy", "astronomy"}) {
    const std::string csv = (mmlu / (std::string(subject) + "_test.csv")).string();
    std::ofstream(csv) << first_lines(data + "/mmlu/test/" + subject + "_test.csv", 25);
    auto tasks = apex::eval::read_multiple_choice(csv);
    ASSERT_TRUE(tasks) << tasks.message();
    all.insert(all.end(), tasks->begin(), tasks->end());
  }
  const std::string mmlu_bin = f.file("mmlu.bin");
  std::ofstream(mmlu_bin, std::ios::binary) << apex::eval::write_multiple_choice_bin(all);
  const std::string tqa = data + "/truthfulqa/mc_task.json";
  f.tasks = {{"hellaswag", hs, "hellaswag -f " + hs},
             {"winogrande", wg, "winogrande -f " + wg},
             {"arc-challenge", arc, "multiple-choice -f " + arc},
             {"mmlu", mmlu.string(), "multiple-choice -f " + mmlu_bin},
             {"truthfulqa", tqa, "multiple-choice -f " + tqa}};

  std::string args = "eval";
  for (const auto& q : f.quants) args += " " + q;
  args += " --base " + f.base + " -f " + f.text + " " + kWindow + " --tasks " + std::to_string(kTasks);
  for (const auto& [flag, path, cmd] : f.tasks) args += " --" + flag + " " + path;
  args += " --json --report " + f.report();
  f.eval = f.run(args);
  ASSERT_EQ(f.eval.exit_code, 0) << f.eval.err;
  f.j = json::parse(f.eval.out);
}

Fixture& fixture() {
  static Fixture f;
  static const bool done = (set_up(f), true);
  (void)done;
  return f;
}

#define REQUIRE_FIXTURE()                                              \
  const Fixture& F = fixture();                                        \
  if (!F.have_inputs) GTEST_SKIP() << "no tiny model or shared data";  \
  ASSERT_EQ(F.eval.exit_code, 0) << F.eval.err;                        \
  ASSERT_EQ(F.j["models"].size(), 1 + F.quants.size())

json run_json(const Fixture& f, const std::string& args) {
  const RunResult r = f.run(args + " --json");
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json();
}

TEST(EvalReport, PerplexityAndKldEqualTheSingleCommands) {
  REQUIRE_FIXTURE();
  const json& base = F.j["models"][0];
  EXPECT_TRUE(base["base"].get<bool>());
  EXPECT_TRUE(base["kld"].is_null());
  const json ppl = run_json(F, "perplexity " + F.base + " -f " + F.text + " " + kWindow);
  EXPECT_EQ(base["ppl"]["value"], ppl["ppl"]);
  EXPECT_EQ(base["ppl"]["stderr"], ppl["ppl_stderr"]);
  EXPECT_EQ(F.j["chunks"], ppl["chunks"]);
  EXPECT_EQ(F.j["scored_tokens"], ppl["scored_tokens"]);

  for (size_t i = 0; i < F.quants.size(); ++i) {
    SCOPED_TRACE(F.quants[i]);
    const json& m = F.j["models"][i + 1];
    EXPECT_EQ(m["file"], F.quants[i]);
    const json k = run_json(F, "kld " + F.base + " " + F.quants[i] + " -f " + F.text + " " + kWindow);
    EXPECT_EQ(m["ppl"]["value"], k["ppl"]["value"]);
    EXPECT_EQ(m["ppl"]["stderr"], k["ppl"]["stderr"]);
    EXPECT_EQ(m["kld"]["mean"], k["kld"]["mean"]);
    EXPECT_EQ(m["kld"]["stderr"], k["kld"]["stderr"]);
    EXPECT_EQ(m["kld"]["median"], k["kld"]["median"]);
    EXPECT_EQ(m["kld"]["max"], k["kld"]["max"]);
    EXPECT_EQ(m["kld"]["p99"], k["kld"]["percentiles"]["99.0"]);
    EXPECT_EQ(m["kld"]["p99.9"], k["kld"]["percentiles"]["99.9"]);
    EXPECT_EQ(m["same_top"], k["same_top"]);
    EXPECT_EQ(m["rms_dp"], k["rms_dp"]);
    EXPECT_EQ(m["ln_ppl_ratio"], k["ln_ppl_ratio"]);
    // PPL(Q) of the KLD pass sums float NLLs, `apex perplexity` double ones:
    // the same figure to well under the printed digits.
    const json p = run_json(F, "perplexity " + F.quants[i] + " -f " + F.text + " " + kWindow);
    EXPECT_NEAR(m["ppl"]["value"].get<double>(), p["ppl"].get<double>(), 1e-5 * p["ppl"].get<double>());
  }
}

TEST(EvalReport, TaskAccuraciesEqualTheTaskCommands) {
  REQUIRE_FIXTURE();
  for (size_t i = 0; i < F.j["models"].size(); ++i) {
    const json& m = F.j["models"][i];
    const std::string model = m["file"];
    for (const auto& [key, path, cmd] : F.tasks) {
      SCOPED_TRACE(model + " " + key);
      ASSERT_TRUE(m["tasks"].contains(key));
      const json t = run_json(F, cmd + " " + model + " --tasks " + std::to_string(kTasks));
      const json& got = m["tasks"][key];
      EXPECT_EQ(got["accuracy"], t["accuracy"]);
      EXPECT_EQ(got["stderr"], t["stderr"]);
      EXPECT_EQ(got["correct"], t["correct"]);
      EXPECT_EQ(got["tasks_evaluated"], t["tasks_evaluated"]);
      EXPECT_EQ(got["tasks_evaluated"].get<int>(), kTasks);
      EXPECT_EQ(got["tasks_available"], t["tasks_available"]);
    }
  }
  EXPECT_FALSE(F.j["models"][0]["tasks"].contains("arc-easy"));  // not given, not run
}

TEST(EvalReport, SizesAreTheFiles) {
  REQUIRE_FIXTURE();
  for (const json& m : F.j["models"]) {
    const std::string path = m["file"];
    SCOPED_TRACE(path);
    EXPECT_EQ(m["size"]["bytes"].get<uint64_t>(), fs::file_size(path));
    EXPECT_DOUBLE_EQ(m["size"]["gib"].get<double>(), fs::file_size(path) / 1073741824.0);
    auto file = apex::gguf::File::open(path);
    ASSERT_TRUE(file) << file.message();
    uint64_t bytes = 0;
    double elements = 0;
    for (const auto& t : (*file)->tensors()) {
      bytes += t.nbytes;
      double n = 1;
      for (int64_t d : t.ne) n *= static_cast<double>(d);
      elements += n;
    }
    EXPECT_NEAR(m["size"]["bpw"].get<double>(), 8.0 * bytes / elements, 1e-9);
  }
  // Sanity of the figures themselves: F16 about 16 bits, Q8_0 8.5, Q4_K_M under 5.5.
  EXPECT_NEAR(F.j["models"][0]["size"]["bpw"].get<double>(), 16.0, 0.1);
  EXPECT_NEAR(F.j["models"][1]["size"]["bpw"].get<double>(), 8.5, 0.1);
  EXPECT_LT(F.j["models"][2]["size"]["bpw"].get<double>(), 5.5);
}

// ---- SVG read-back ------------------------------------------------------------

struct Tick {
  double value = 0, pixel = 0;
};
struct Point {
  std::string label;
  double cx = 0, cy = 0;
};
struct Svg {
  std::vector<Tick> x_ticks, y_ticks;
  std::string x_scale, y_scale;
  std::vector<Point> points;
};

std::string attr(const std::string& element, const std::string& name) {
  const std::regex re("\\b" + name + "=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(element, m, re) ? m[1].str() : std::string();
}

std::string unescape(std::string s) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  }
  return s;
}

Svg parse_svg(const std::string& text) {
  Svg svg;
  const std::regex element("<(line|circle|g)\\b[^>]*>");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), element); it != std::sregex_iterator(); ++it) {
    const std::string e = it->str();
    const std::string cls = attr(e, "class");
    if (cls == "tick-x") svg.x_ticks.push_back({std::stod(attr(e, "data-value")), std::stod(attr(e, "x1"))});
    if (cls == "tick-y") svg.y_ticks.push_back({std::stod(attr(e, "data-value")), std::stod(attr(e, "y1"))});
    if (cls == "axis-x") svg.x_scale = attr(e, "data-scale");
    if (cls == "axis-y") svg.y_scale = attr(e, "data-scale");
    if (cls == "point") {
      svg.points.push_back({unescape(attr(e, "data-label")), std::stod(attr(e, "cx")), std::stod(attr(e, "cy"))});
    }
  }
  return svg;
}

// The value at `pixel` on an axis drawn with these ticks (linear or log10
// between the first and the last tick).
double axis_value(const std::vector<Tick>& ticks, const std::string& scale, double pixel) {
  const Tick a = ticks.front(), b = ticks.back();
  auto u = [&](double v) { return scale == "log" ? std::log10(v) : v; };
  const double t = (pixel - a.pixel) / (b.pixel - a.pixel);
  const double v = u(a.value) + t * (u(b.value) - u(a.value));
  return scale == "log" ? std::pow(10.0, v) : v;
}

// One pixel's worth of value at `value` (the read-back tolerance: coordinates
// are written with 3 decimals).
double pixel_step(const std::vector<Tick>& ticks, const std::string& scale, double value) {
  const Tick a = ticks.front(), b = ticks.back();
  const double per_pixel = std::fabs((scale == "log" ? std::log10(b.value / a.value) : b.value - a.value) /
                                     (b.pixel - a.pixel));
  return scale == "log" ? value * (std::pow(10.0, per_pixel) - 1) : per_pixel;
}

void check_plot(const Fixture& F, const std::string& name, const std::string& y_scale,
                const std::function<std::optional<double>(const json&)>& y_of) {
  SCOPED_TRACE(name);
  const Svg svg = parse_svg(slurp(fs::path(F.report()) / name));
  ASSERT_GE(svg.x_ticks.size(), 2u);
  ASSERT_GE(svg.y_ticks.size(), 2u);
  EXPECT_EQ(svg.x_scale, "linear");
  EXPECT_EQ(svg.y_scale, y_scale);
  size_t expected = 0;
  for (const json& m : F.j["models"]) {
    const std::optional<double> y = y_of(m);
    if (!y) continue;
    ++expected;
    const std::string label = m["label"];
    const auto p = std::find_if(svg.points.begin(), svg.points.end(), [&](const Point& q) { return q.label == label; });
    ASSERT_NE(p, svg.points.end()) << "no point for " << label;
    const double mib = m["size"]["bytes"].get<double>() / (1024.0 * 1024.0);  // the tiny files are under 1 GiB
    EXPECT_NEAR(axis_value(svg.x_ticks, svg.x_scale, p->cx), mib, 0.01 * pixel_step(svg.x_ticks, svg.x_scale, mib))
        << label;
    EXPECT_NEAR(axis_value(svg.y_ticks, svg.y_scale, p->cy), *y, 0.01 * pixel_step(svg.y_ticks, svg.y_scale, *y))
        << label;
  }
  EXPECT_EQ(svg.points.size(), expected);
}

TEST(EvalReport, SvgPointsMapBackToSizeKldAndPpl) {
  REQUIRE_FIXTURE();
  check_plot(F, "size_vs_kld.svg", "log", [](const json& m) -> std::optional<double> {
    if (m["kld"].is_null()) return std::nullopt;
    return m["kld"]["mean"].get<double>();
  });
  check_plot(F, "size_vs_ppl.svg", "linear",
             [](const json& m) -> std::optional<double> { return m["ppl"]["value"].get<double>(); });
}

TEST(EvalReport, MarkdownAndHtmlHoldEveryModel) {
  REQUIRE_FIXTURE();
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(F.report())) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"report.md", "report.html", "size_vs_kld.svg", "size_vs_ppl.svg"}))
      << "a temp file left behind?";
  const std::string md = slurp(fs::path(F.report()) / "report.md");
  const std::string html = slurp(fs::path(F.report()) / "report.html");
  for (const json& m : F.j["models"]) {
    const std::string label = m["label"];
    const std::string cell = label + (m["base"].get<bool>() ? " (base)" : "");
    std::istringstream lines(md);
    int rows = 0;
    for (std::string line; std::getline(lines, line);) rows += line.rfind("| " + cell + " |", 0) == 0;
    EXPECT_EQ(rows, 2) << cell << ": one row in the core table, one in the accuracy table";
    size_t html_rows = 0;
    for (size_t at = html.find("<tr><td>" + cell + "</td>"); at != std::string::npos;
         at = html.find("<tr><td>" + cell + "</td>", at + 1)) {
      ++html_rows;
    }
    EXPECT_EQ(html_rows, 2u) << cell;
    // The PPL cell as printed, in both.
    char ppl[64];
    std::snprintf(ppl, sizeof ppl, "%.4f ± %.4f", m["ppl"]["value"].get<double>(), m["ppl"]["stderr"].get<double>());
    EXPECT_NE(md.find(ppl), std::string::npos) << ppl;
    EXPECT_NE(html.find(ppl), std::string::npos) << ppl;
  }
  // The method note carries the command, and the HTML needs nothing from outside.
  EXPECT_EQ(F.j["command"].get<std::string>().rfind("apex eval ", 0), 0u);
  EXPECT_NE(md.find(F.j["command"].get<std::string>()), std::string::npos);
  EXPECT_NE(md.find("(size_vs_kld.svg)"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(std::count(html.begin(), html.end(), '<') - std::count(html.begin(), html.end(), '>'), 0);
  EXPECT_NE(html.find("<svg"), std::string::npos);
}

// ---- bad input ----------------------------------------------------------------

TEST(EvalReport, BadInputIsOneLineAndNoReport) {
  const Fixture& F = fixture();
  if (!F.have_inputs) GTEST_SKIP() << "no tiny model or shared data";
  ASSERT_FALSE(F.quants.empty());
  const std::string q = F.quants[0];
  const std::string out = F.file("bad-report");
  auto expect_error = [&](const std::string& args, const std::vector<std::string>& mentions) {
    SCOPED_TRACE(args);
    apex::testing::expect_one_line_error(F.run("eval " + args + " --report " + out), mentions);
    EXPECT_FALSE(fs::exists(out)) << "a report was written for a failed run";
  };
  const std::string window = std::string(" ") + kWindow + " --tasks 1";
  const std::string missing = F.file("no-such.gguf");
  expect_error(missing + " --base " + F.base + " -f " + F.text + window, {missing});
  expect_error(q + " --base " + missing + " -f " + F.text + window, {missing});

  // A model with another vocabulary (a synthetic one of 1024 tokens).
  const std::string other = F.file("other-vocab.gguf");
  apex::synth::Options o = apex::engine::testing::synth_options("llama", 0, apex::quant::TypeId::F32);
  ASSERT_TRUE(apex::synth::write_model(o, other));
  expect_error(q + " " + other + " --base " + F.base + " -f " + F.text + window, {other, "vocabulary", "1024", "4096"});

  // Text shorter than two chunks.
  const std::string short_text = F.file("short.txt");
  std::ofstream(short_text) << "Only a few words here.";
  expect_error(q + " --base " + F.base + " -f " + short_text + window, {short_text, "too short"});

  const std::string bad_wg = F.file("bad.jsonl");
  std::ofstream(bad_wg) << "{\"context_options\": [\"a x\", \"a y\"], \"continuation\": \"b\", \"gold\": 0}\nnot json\n";
  expect_error(q + " --base " + F.base + " -f " + F.text + window + " --winogrande " + bad_wg, {bad_wg, "line 2"});
  expect_error(q + " --base " + F.base + " -f " + F.text + window + " --suite huge", {"huge", "quick", "full"});
  expect_error(q + " --base " + F.base + window, {"-f"});
  expect_error(q + " --base " + F.base + window + " --data " + missing, {missing});
}

}  // namespace
