// apex quantize [options] IN.gguf [OUT.gguf] FTYPE
// A drop-in for llama-quantize: same ftype names, same per-tensor choices,
// same output bytes.
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"
#include "quant/type_table.h"

namespace apex::cli {

Command make_quantize() {
  struct Args {
    std::vector<std::string> positional;
    std::vector<std::string> tensor_types;
    std::vector<std::string> tensor_type_files;
    std::string output_tensor_type, token_embedding_type, imatrix;
    bool pure = false, allow_requantize = false, leave_output = false, dry_run = false;
    bool json = false, verbose = false, no_progress = false;
    int threads = 0;
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
        "  apex quantize --dry-run in.gguf Q4_K_M      # plan and exact size, no file\n\n"
        "FTYPE: " + plan::ftype_name_list());
    sub->add_option("IN [OUT] FTYPE", args->positional,
                    "input model, output path (default: ggml-model-FTYPE.gguf beside the input), ftype")
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
    sub->add_flag("--pure", args->pure, "every quantizable tensor gets the ftype's default type");
    sub->add_flag("--allow-requantize", args->allow_requantize,
                  "allow converting tensors that are already quantized (quality suffers)");
    sub->add_flag("--leave-output-tensor", args->leave_output, "keep output.weight unquantized");
    sub->add_flag("--dry-run", args->dry_run, "print the plan and the exact output size; write nothing");
    sub->add_option("--threads,-t", args->threads, "worker threads (default: all cores)");
    sub->add_flag("--json", args->json, "print the report as JSON");
    sub->add_flag("--verbose,-v", args->verbose, "print one line per tensor");
    sub->add_flag("--no-progress", args->no_progress, "no progress bar");
    return sub;
  };
  c.run = [args]() {
    const auto& pos = args->positional;
    pipeline::QuantizeJob job;
    job.input = pos[0];
    const std::string ftype_text = pos.back();
    auto ftype = plan::parse_ftype(ftype_text);
    if (!ftype.ok()) return fail(ftype.message());
    job.ftype = *ftype;
    if (pos.size() == 3) {
      job.output = pos[1];
    } else {
      const auto dir = std::filesystem::path(job.input).parent_path();
      job.output = (dir / fmt::format("ggml-model-{}.gguf", job.ftype->name)).string();
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
    job.dry_run = args->dry_run;
    job.threads = args->threads;
    job.progress = !args->no_progress && !args->json;
    if (!job.dry_run && std::filesystem::absolute(job.input) == std::filesystem::absolute(job.output)) {
      return fail("output would overwrite the input " + job.input);
    }
    auto report = pipeline::quantize_model(job);
    if (!report.ok()) return fail(report.message());
    if (args->json) {
      fmt::print("{}\n", pipeline::to_json(*report).dump(2));
    } else {
      fmt::print("{}", pipeline::format_text(*report, args->verbose || job.dry_run));
    }
    return 0;
  };
  return c;
}

}  // namespace apex::cli
