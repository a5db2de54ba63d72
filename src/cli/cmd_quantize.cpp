// apex quantize [options] IN.gguf [OUT.gguf] FTYPE
// apex quantize --profile P [--imatrix F] IN.gguf OUT.gguf
// A drop-in for llama-quantize: same ftype names, same per-tensor choices,
// same output bytes. With --profile, an APEX tier: llama-quantize with the
// profile's base ftype and tensor-type file, plus apex.* metadata.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/profile_options.h"
#include "pipeline/apex_quantize.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"
#include "quant/type_table.h"

namespace apex::cli {

Command make_quantize() {
  struct Args {
    std::vector<std::string> positional;
    std::vector<std::string> tensor_types;
    std::vector<std::string> tensor_type_files;
    std::string output_tensor_type, token_embedding_type, imatrix, zero_expert_policy = "plain";
    bool pure = false, allow_requantize = false, leave_output = false, dry_run = false;
    bool json = false, verbose = false, no_progress = false;
    int threads = 0;
    ProfileArgs profile;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "quantize",
        "Quantize a GGUF model exactly as llama-quantize would: the same per-tensor types\n"
        "(mixture rules, layer bumps, fallbacks), tensor order, metadata and bytes.\n\n"
        "  apex quantize model-f16.gguf model-Q4_K_M.gguf Q4_K_M\n"
        "  apex quantize --imatrix imatrix.gguf model-f16.gguf out.gguf Q3_K_M\n"
        "  apex quantize --tensor-type 'ffn_down_exps=q6_k' in.gguf out.gguf Q4_K_M\n"
        "  apex quantize --dry-run in.gguf Q4_K_M      # plan and exact size, no file\n"
        "  apex quantize --profile i-quality --imatrix imatrix.gguf in.gguf out.gguf   # an APEX tier\n\n"
        "FTYPE: " + plan::ftype_name_list());
    sub->add_option("IN [OUT] FTYPE", args->positional,
                    "input model, output path (default: ggml-model-FTYPE.gguf beside the input), ftype; "
                    "with --profile: IN OUT")
        ->required()
        ->expected(2, 3);
    sub->add_option("--tensor-type", args->tensor_types,
                    "PATTERN=TYPE: tensors whose name contains the regex PATTERN get TYPE; "
                    "the first matching pattern wins (repeatable)")
        ->allow_extra_args(false);
    sub->add_option("--tensor-type-file", args->tensor_type_files,
                    "file of whitespace-separated PATTERN=TYPE items (as llama-quantize)")
        ->allow_extra_args(false);
    sub->add_option("--output-tensor-type", args->output_tensor_type, "type for output.weight");
    sub->add_option("--token-embedding-type", args->token_embedding_type, "type for token_embd.weight");
    sub->add_option("--imatrix", args->imatrix,
                    "importance matrix (llama-imatrix's GGUF or legacy .dat format)");
    sub->add_option("--zero-expert-policy", args->zero_expert_policy,
                    "experts the imatrix has no calibration data for: plain (default: quantized as\n"
                    "without an imatrix), ones (importance 1, as llama-quantize), refuse (error);\n"
                    "see docs/IMATRIX.md")
        ->check(CLI::IsMember({"plain", "ones", "refuse"}));
    sub->add_flag("--pure", args->pure, "every quantizable tensor gets the ftype's default type");
    sub->add_flag("--allow-requantize", args->allow_requantize,
                  "allow converting tensors that are already quantized (quality suffers)");
    sub->add_flag("--leave-output-tensor", args->leave_output, "keep output.weight unquantized");
    sub->add_flag("--dry-run", args->dry_run, "print the plan and the exact output size; write nothing");
    sub->add_option("--threads,-t", args->threads, "worker threads (default: all cores)");
    sub->add_flag("--json", args->json, "print the report as JSON");
    sub->add_flag("--verbose,-v", args->verbose, "print one line per tensor");
    sub->add_flag("--no-progress", args->no_progress, "no progress bar");
    add_profile_options(sub, args->profile);
    return sub;
  };
  c.run = [args]() {
    const auto& pos = args->positional;
    pipeline::QuantizeJob job;
    job.input = pos[0];
    const bool with_profile = !args->profile.profile.empty();
    if (with_profile) {
      if (pos.size() != 2) {
        return fail("with --profile give IN.gguf OUT.gguf and no FTYPE (--base-ftype replaces the base)");
      }
      job.output = pos[1];  // the ftype comes from the profile (apply_profile below)
    } else {
      const auto& cu = args->profile.custom;
      if (!args->profile.base_ftype.empty() || !cu.edge_experts.empty() || !cu.near_experts.empty() ||
          !cu.mid_experts.empty() || !cu.edge_shared.empty() || !cu.mid_shared.empty() ||
          !cu.edge_attn.empty() || !cu.mid_attn.empty()) {
        return fail("--base-ftype and the per-class flags (--edge-exp, ...) need --profile");
      }
      auto ftype = plan::parse_ftype(pos.back());
      if (!ftype.ok()) return fail(ftype.message());
      job.ftype = *ftype;
      if (pos.size() == 3) {
        job.output = pos[1];
      } else {
        const auto dir = std::filesystem::path(job.input).parent_path();
        job.output = (dir / fmt::format("ggml-model-{}.gguf", job.ftype->name)).string();
      }
    }
    plan::QuantizeOptions& r = job.rules;
    r.pure = args->pure;
    r.allow_requantize = args->allow_requantize;
    r.quantize_output_tensor = !args->leave_output;
    if (!args->output_tensor_type.empty()) {
      auto t = quant::parse_type_name(args->output_tensor_type);
      if (!t.ok()) return fail("--output-tensor-type: " + t.message());
      r.output_tensor_type = *t;
    }
    if (!args->token_embedding_type.empty()) {
      auto t = quant::parse_type_name(args->token_embedding_type);
      if (!t.ok()) return fail("--token-embedding-type: " + t.message());
      r.token_embedding_type = *t;
    }
    for (const auto& item : args->tensor_types) {
      Status s = r.overrides.add(item);
      if (!s.ok()) return fail("--tensor-type: " + s.message());
    }
    for (const auto& f : args->tensor_type_files) {
      Status s = r.overrides.add_file(f);
      if (!s.ok()) return fail(s.message());
    }
    job.imatrix_path = args->imatrix;
    job.zero_data_policy = *imatrix::parse_policy(args->zero_expert_policy);  // checked by CLI11
    job.dry_run = args->dry_run;
    job.threads = args->threads;
    job.progress = !args->no_progress && !args->json;
    if (with_profile) {
      auto profile = resolve_profile(args->profile);
      if (!profile.ok()) return fail(profile.message());
      auto base = resolve_base_override(args->profile);
      if (!base.ok()) return fail(base.message());
      auto planned = pipeline::apply_profile(job, *profile, *base);
      if (!planned.ok()) return fail(planned.message());
      if (profile->imatrix_recommended && job.imatrix_path.empty() && !args->json) {
        std::fprintf(stderr, "apex: warning: profile %s is meant to be quantized with an importance matrix (--imatrix FILE)\n",
                     profile->name.c_str());
      }
      for (const auto& w : planned->warnings) std::fprintf(stderr, "apex: warning: %s\n", w.c_str());
    }
    if (!job.dry_run && std::filesystem::absolute(job.input) == std::filesystem::absolute(job.output)) {
      return fail("output would overwrite the input " + job.input);
    }
    auto report = pipeline::quantize_model(job);
    if (!report.ok()) return fail(report.message());
    if (!args->json) {
      for (const auto& w : report->warnings) std::fprintf(stderr, "apex: warning: %s\n", w.c_str());
    }
    if (args->json) {
      fmt::print("{}\n", pipeline::to_json(*report).dump(2));
    } else {
      fmt::print("{}", pipeline::format_text(*report, args->verbose || job.dry_run));
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{10, make_quantize};

}  // namespace apex::cli
