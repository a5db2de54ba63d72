// apex pipeline HF_DIR --profiles quality,compact,... --imatrix-text F
//               [--eval-text F] --out DIR [--outtype f16|bf16|f32|q8_0]:
// APEX's --full-pipeline from a local Hugging Face checkpoint in one
// command (see src/convert/hf_pipeline.h).
#include <fmt/format.h>

#include <tbb/global_control.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "convert/hf_pipeline.h"
#include "quant/type_table.h"
#include "util/progress.h"

namespace apex::cli {
namespace {

// The command as typed (arguments joined by spaces), for the report.
std::string typed_command() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw{std::istreambuf_iterator<char>(in), {}};
  for (char& c : raw) {
    if (c == '\0') c = ' ';
  }
  while (!raw.empty() && raw.back() == ' ') raw.pop_back();
  return raw;
}

}  // namespace

Command make_pipeline() {
  struct Args {
    convert::PipelineOptions opts;
    std::vector<std::string> profiles;
    std::string outtype = "f16";
    bool json = false, no_progress = false, fresh = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    convert::PipelineOptions& o = args->opts;
    CLI::App* sub = app.add_subcommand(
        "pipeline",
        "From a Hugging Face checkpoint to evaluated APEX tiers in one command (APEX's\n"
        "--full-pipeline): convert to GGUF, compute an importance matrix on --imatrix-text,\n"
        "quantize every --profiles tier with it, then measure each file's size, bits per\n"
        "weight, perplexity and KL divergence against the converted file on --eval-text,\n"
        "plus the benchmarks of --data (`apex eval`: report.json/.md/.html in --out).\n"
        "Outputs are written by rename, so a rerun skips the steps already done\n"
        "(--fresh redoes them).\n\n"
        "  apex pipeline ./Qwen3-30B-A3B --profiles quality,balanced,compact \\\n"
        "      --imatrix-text calib.txt --eval-text wiki.test.raw --out ./apex-out");
    sub->add_option("hf_dir", o.hf_dir, "Hugging Face checkpoint directory")->required();
    sub->add_option("--profiles", args->profiles, "comma-separated tiers: built-in names or profile files")
        ->delimiter(',')
        ->required();
    sub->add_option("--imatrix-text", o.imatrix_text, "calibration text for the importance matrix");
    sub->add_option("--eval-text", o.eval_text, "text for the perplexity of every file (default: none)");
    sub->add_option("--out", o.out_dir, "output directory")->required();
    sub->add_option("--outtype", args->outtype, "type of the converted matrices: f16 (default), bf16, f32, q8_0")
        ->check(CLI::IsMember({"f16", "bf16", "f32", "q8_0"}, CLI::ignore_case));
    sub->add_option("--imatrix-ctx", o.imatrix_ctx, "tokens per imatrix chunk (default 512)");
    sub->add_option("--imatrix-chunks", o.imatrix_chunks, "imatrix chunks (default: all)");
    sub->add_option("--eval-ctx", o.eval_ctx, "tokens per perplexity chunk (default 512)");
    sub->add_option("--eval-chunks", o.eval_chunks, "perplexity chunks (default: all)");
    sub->add_option("--suite", o.suite, "eval suite: quick (default) or full (task counts)");
    sub->add_option("--data", o.data_dir, "benchmark files for the eval (a folder laid out as ../shared/data)");
    sub->add_option("--threads,-t", o.threads, "quantization threads (default: all cores)");
    sub->add_flag("--fresh", args->fresh, "redo every step even when its output exists");
    sub->add_flag("--json", args->json, "machine-readable report");
    sub->add_flag("--no-progress", args->no_progress, "no progress bar");
    return sub;
  };
  c.run = [args]() {
    convert::PipelineOptions& o = args->opts;
    auto type = quant::parse_type_name(args->outtype);
    if (!type.ok()) return fail("--outtype: " + type.message());
    o.outtype = *type;
    o.profiles = args->profiles;
    o.resume = !args->fresh;
    o.command = typed_command();
    std::unique_ptr<tbb::global_control> limit;
    if (o.threads > 0) {
      limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    static_cast<size_t>(o.threads));
    }
    const bool show = !args->no_progress && !args->json && ProgressBar::stderr_is_terminal();
    std::unique_ptr<ProgressBar> bar;
    std::string step_name;
    uint64_t last = 0;
    convert::PipelineCallbacks cb;
    cb.on_step = [&](int index, int total, const std::string& step) {
      if (bar) bar->finish();
      bar.reset();
      step_name = fmt::format("[{}/{}] {}", index, total, step);
      if (!args->json) fmt::print(stderr, "apex pipeline: {}\n", step_name);
    };
    cb.on_progress = [&](uint64_t done, uint64_t total, const std::string& detail) {
      if (!bar) {
        bar = std::make_unique<ProgressBar>(step_name, total, show);
        last = 0;
      }
      bar->advance(done - last, detail);
      last = done;
    };
    auto r = convert::run_pipeline(o, cb);
    if (bar) bar->finish();
    if (!r.ok()) return fail(r.message());
    if (args->json) {
      fmt::print("{}\n", convert::to_json(*r).dump(2));
      return 0;
    }
    for (const auto& s : r->steps) {
      fmt::print("{:<20} {:<8} {:7.1f} s  {}\n", s.name, s.skipped ? "reused" : "done", s.seconds, s.output);
    }
    fmt::print("\n{}", convert::format_table(*r));
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{130, make_pipeline};

}  // namespace apex::cli
