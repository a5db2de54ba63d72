// apex plan MODEL.gguf --profile P [--json]: the APEX plan of a model --
// every tensor's role, layer class, type and bytes, and the exact output
// size -- without writing anything. Also from shapes alone (--shapes), and
// the tensor-type file for llama-quantize (--emit-tensor-type-file).
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "cli/profile_options.h"
#include "gguf/gguf.h"
#include "pipeline/apex_quantize.h"
#include "pipeline/quantize_model.h"
#include "plan/apex_plan.h"

namespace apex::cli {
namespace {

Status write_text(const std::string& path, const std::string& text) {
  if (path == "-") {
    fmt::print("{}", text);
    return Status::Ok();
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) return make_error("{}: cannot create file", path);
  out << text;
  out.close();
  if (!out) return make_error("{}: write error", path);
  return Status::Ok();
}

}  // namespace

Command make_plan() {
  struct Args {
    std::string model, shapes, emit;
    int layers = 0;
    bool json = false, summary = false, list = false;
    ProfileArgs profile;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "plan",
        "Show the APEX plan of a model for a profile: every tensor's role, layer class, type\n"
        "and bytes, the totals and the per-role breakdown -- the exact output size of\n"
        "`apex quantize --profile P`, computed without writing anything.\n\n"
        "  apex plan model-f16.gguf --profile i-quality\n"
        "  apex plan --shapes qwen3-30b-a3b.json --profile compact --summary\n"
        "  apex plan model-f16.gguf --profile mini --emit-tensor-type-file mini.txt\n"
        "  apex plan --layers 40 --profile balanced --emit-tensor-type-file -   # = generate_config.sh\n"
        "  apex plan --list-profiles");
    sub->add_option("MODEL", args->model, "GGUF model to plan");
    sub->add_option("--shapes", args->shapes, "plan from a JSON list of tensor shapes instead of a GGUF file");
    sub->add_option("--layers", args->layers,
                    "no model: write the tensor-type file for this many layers (with --emit-tensor-type-file)");
    add_profile_options(sub, args->profile);
    sub->add_option("--emit-tensor-type-file", args->emit,
                    "write the plan as a llama-quantize --tensor-type-file ('-': stdout)");
    sub->add_flag("--json", args->json, "print the plan as JSON");
    sub->add_flag("--summary", args->summary, "totals and per-role breakdown only, no per-tensor table");
    sub->add_flag("--list-profiles", args->list, "list the built-in profiles");
    return sub;
  };
  c.run = [args]() {
    if (args->list) {
      for (const auto& name : plan::builtin_profile_names()) {
        auto p = plan::builtin_profile(name);
        if (!p.ok()) return fail(p.message());
        fmt::print("{:<11} base {:<7} {}\n", p->name, p->base->name, p->about);
      }
      return 0;
    }
    if (args->profile.profile.empty()) return fail("plan: --profile is required (see --list-profiles)");
    auto profile = resolve_profile(args->profile);
    if (!profile.ok()) return fail(profile.message());
    auto base = resolve_base_override(args->profile);
    if (!base.ok()) return fail(base.message());

    const int sources = !args->model.empty() + !args->shapes.empty() + (args->layers > 0);
    if (sources != 1) return fail("plan: give exactly one of MODEL.gguf, --shapes FILE or --layers N");

    if (args->layers > 0) {
      if (args->emit.empty()) return fail("plan: --layers needs --emit-tensor-type-file FILE (or '-')");
      const auto lines = plan::tensor_type_lines(*profile, args->layers);
      Status s = write_text(args->emit, plan::tensor_type_file_text(lines));
      return s.ok() ? 0 : fail(s.message());
    }

    plan::PlanOptions options;
    options.base_override = *base;
    Result<plan::Plan> p = make_error("unreachable");
    uint64_t file_bytes = 0;
    if (!args->shapes.empty()) {
      auto shapes = plan::read_shapes_json(args->shapes);
      if (!shapes.ok()) return fail(shapes.message());
      p = plan::make_plan(shapes->facts, shapes->tensors, *profile, options);
    } else {
      // The dry run gives the exact file size (header and padding included)
      // of what `apex quantize --profile` would write.
      pipeline::QuantizeJob job;
      job.input = args->model;
      job.dry_run = true;
      p = pipeline::apply_profile(job, *profile, *base);
      if (p.ok()) {
        auto report = pipeline::quantize_model(job);
        if (!report.ok()) return fail(report.message());
        file_bytes = report->output_file_bytes;
      }
    }
    if (!p.ok()) return fail(p.message());
    if (!args->emit.empty()) {
      Status s = write_text(args->emit, plan::tensor_type_file_text(p->lines));
      if (!s.ok()) return fail(s.message());
      if (args->emit == "-") return 0;
    }
    if (args->json) {
      nlohmann::json j = plan::plan_to_json(*p);
      j["input"] = args->model.empty() ? args->shapes : args->model;
      j["output_file_bytes"] = file_bytes ? nlohmann::json(file_bytes) : nlohmann::json(nullptr);
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}", plan::format_plan_text(*p, !args->summary));
      if (file_bytes) fmt::print("output file: {} bytes (exact, with metadata)\n", file_bytes);
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{20, make_plan};

}  // namespace apex::cli
