// apex convert HF_DIR OUT.gguf [--outtype f16|bf16|f32|q8_0] [--json]:
// a local Hugging Face checkpoint of a supported MoE family into GGUF, as
// llama.cpp's convert_hf_to_gguf.py writes it (see src/convert/convert.h).
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "convert/convert.h"
#include "quant/type_table.h"
#include "util/progress.h"

namespace apex::cli {

Command make_convert() {
  struct Args {
    std::string hf_dir, out, outtype = "f16";
    bool json = false, no_progress = false, dry_run = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "convert",
        "Convert a local Hugging Face checkpoint (config.json, *.safetensors with or without\n"
        "model.safetensors.index.json, tokenizer.json + tokenizer_config.json) into GGUF the\n"
        "way llama.cpp's convert_hf_to_gguf.py does: its metadata keys, tokenizer fields and\n"
        "tensor order, routed experts stacked into 3-D tensors, norms and routers kept F32.\n"
        "Supported: Qwen2MoeForCausalLM (qwen2moe), Qwen3MoeForCausalLM (qwen3moe), Qwen3_5MoeForCausalLM /\n"
        "Qwen3_5MoeForConditionalGeneration (qwen35moe); experts per expert or fused (gate_up_proj).\n\n"
        "  apex convert ./Qwen3-30B-A3B qwen3-30b-a3b-f16.gguf\n"
        "  apex convert ./Qwen3-30B-A3B model-q8_0.gguf --outtype q8_0\n"
        "  apex convert ./ckpt out.gguf --dry-run --json   # check and list, write nothing");
    sub->add_option("hf_dir", args->hf_dir, "Hugging Face checkpoint directory")->required();
    sub->add_option("out", args->out, "GGUF file to write")->required();
    sub->add_option("--outtype", args->outtype, "type of the matrices: f16 (default), bf16, f32 or q8_0")
        ->check(CLI::IsMember({"f16", "bf16", "f32", "q8_0"}, CLI::ignore_case));
    sub->add_flag("--dry-run", args->dry_run, "check the checkpoint and print the plan; write nothing");
    sub->add_flag("--json", args->json, "machine-readable summary");
    sub->add_flag("--no-progress", args->no_progress, "no progress bar");
    return sub;
  };
  c.run = [args]() {
    auto type = quant::parse_type_name(args->outtype);
    if (!type.ok()) return fail("--outtype: " + type.message());
    convert::ConvertOptions o{args->hf_dir, args->out, *type};
    Result<convert::ConvertPlan> plan = make_error("");
    if (args->dry_run) {
      plan = convert::plan_conversion(o);
    } else {
      // The total is known once the plan is made: the bar starts with the first tensor.
      std::unique_ptr<ProgressBar> bar;
      const bool show = !args->no_progress && !args->json && ProgressBar::stderr_is_terminal();
      uint64_t last = 0;
      plan = convert::convert_checkpoint(o, [&](uint64_t done, uint64_t total, std::string_view tensor) {
        if (!bar) bar = std::make_unique<ProgressBar>("convert", total, show);
        bar->advance(done - last, std::string(tensor));
        last = done;
      });
      if (bar) bar->finish();
    }
    if (!plan.ok()) return fail(plan.message());
    const auto& l = plan->layout;
    uint64_t bytes = l.total_bytes();
    if (args->json) {
      nlohmann::json j;
      j["output"] = args->out;
      j["architecture"] = plan->arch;
      j["outtype"] = args->outtype;
      j["dry_run"] = args->dry_run;
      j["file_bytes"] = bytes;
      j["tensors"] = nlohmann::json::array();
      for (size_t i = 0; i < l.tensors.size(); ++i) {
        const auto& t = l.tensors[i];
        j["tensors"].push_back({{"name", t.name},
                                {"type", quant::type_name(static_cast<quant::TypeId>(t.type))},
                                {"ne", t.ne},
                                {"sources", plan->sources[i].size()}});
      }
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{} {} ({} tensors, {}, {:.1f} MiB)\n", args->dry_run ? "would write" : "wrote", args->out,
                 l.tensors.size(), plan->arch, bytes / 1048576.0);
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{120, make_convert};

}  // namespace apex::cli
