// apex export-hf MODEL.gguf HF_DIR [--dtype auto|bf16|f16|f32]
//                [--tokenizer-dir DIR] [--shard-size MiB] [--json]:
// a GGUF model written as a local Hugging Face checkpoint (see
// src/convert/export_hf.h).
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "convert/export_hf.h"
#include "util/progress.h"

namespace apex::cli {

Command make_export_hf() {
  struct Args {
    convert::ExportHfOptions opts;
    uint64_t shard_mib = 4096;
    bool json = false, no_progress = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    convert::ExportHfOptions& o = args->opts;
    CLI::App* sub = app.add_subcommand(
        "export-hf",
        "Write a GGUF model (qwen2moe, qwen3moe, qwen35moe) as a local Hugging Face checkpoint:\n"
        "config.json, safetensors shards + model.safetensors.index.json, each routed expert\n"
        "as its own tensor (model.layers.N.mlp.experts.E.gate_proj.weight ...), and the\n"
        "tokenizer files of --tokenizer-dir. Built in HF_DIR.partial-<pid>, renamed when done.\n"
        "`apex convert` turns the result back into the same GGUF tensors.\n\n"
        "  apex export-hf model.gguf ./model-hf --tokenizer-dir ./tokenizer-files\n"
        "  apex export-hf model.gguf ./model-hf --dtype bf16 --shard-size 2048");
    sub->add_option("model", o.gguf_path, "GGUF model")->required();
    sub->add_option("out", o.out_dir, "checkpoint directory to create (absent or empty)")->required();
    sub->add_option("--dtype", o.dtype,
                    "auto (default: F32/F16/BF16 tensors keep their type, quantized ones become bf16), "
                    "bf16, f16 or f32")
        ->check(CLI::IsMember({"auto", "bf16", "f16", "f32"}));
    sub->add_option("--tokenizer-dir", o.tokenizer_dir,
                    "folder holding tokenizer.json, tokenizer_config.json ... to copy into the checkpoint");
    sub->add_option("--shard-size", args->shard_mib, "largest shard in MiB (default 4096)")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
    sub->add_flag("--fused-experts", o.fused_experts,
                  "routed experts as transformers >= 5 stores them: per block mlp.experts.gate_up_proj "
                  "[E, 2*ff, n_embd] and mlp.experts.down_proj [E, n_embd, ff]");
    sub->add_flag("--json", args->json, "machine-readable summary");
    sub->add_flag("--no-progress", args->no_progress, "no progress bar");
    return sub;
  };
  c.run = [args]() {
    args->opts.max_shard_bytes = args->shard_mib << 20;
    std::unique_ptr<ProgressBar> bar;
    const bool show = !args->no_progress && !args->json && ProgressBar::stderr_is_terminal();
    uint64_t last = 0;
    auto r = convert::export_hf(args->opts, [&](uint64_t done, uint64_t total, std::string_view tensor) {
      if (!bar) bar = std::make_unique<ProgressBar>("export-hf", total, show);
      bar->advance(done - last, std::string(tensor));
      last = done;
    });
    if (bar) bar->finish();
    if (!r.ok()) return fail(r.message());
    if (args->json) {
      nlohmann::json j;
      j["output"] = args->opts.out_dir;
      j["architecture"] = r->arch;
      j["tensors"] = r->n_tensors;
      j["shards"] = r->n_shards;
      j["tensor_bytes"] = r->tensor_bytes;
      j["tokenizer_files"] = r->copied;
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("wrote {} ({}: {} tensors in {} shard{}, {:.1f} MiB{})\n", args->opts.out_dir, r->arch,
                 r->n_tensors, r->n_shards, r->n_shards == 1 ? "" : "s", r->tensor_bytes / 1048576.0,
                 r->copied.empty() ? ", no tokenizer files" : fmt::format(", {} tokenizer files", r->copied.size()));
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{125, make_export_hf};

}  // namespace apex::cli
