// apex export-int HF_OUT_DIR --from MODEL.gguf --bits 8|4 --group 128
//   [--format apex|compressed-tensors] [--json]
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "export/int_export.h"
#include "util/progress.h"

namespace apex::cli {

Command make_export_int() {
  struct Args {
    std::string out_dir, from, format = "apex";
    int bits = 8;
    int64_t group = 128;
    uint64_t shard_mb = 4096;
    int threads = 0;
    bool json = false, no_progress = false, no_hash = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "export-int",
        "Write a GGUF MoE model (qwen2moe, qwen3moe, qwen35moe; any type apex reads, e.g. Q8_0)\n"
        "as a Hugging Face directory of symmetric group-wise INT8/INT4 safetensors.\n"
        "Every Linear and the routed-expert stacks are quantized per row in groups of\n"
        "--group input columns: scale = max|w| / 127 (8 bits) or / 7 (4 bits), float16\n"
        "rounded up, q = round(w / scale); embeddings and lm_head stay BF16, norms and\n"
        "biases F32. Formats:\n"
        "  apex                X.weight_i8 [out,in] + X.weight_scale_i8 [n_groups,out]\n"
        "                      (4 bits: weight_i4 / weight_scale_i4, two per byte, low\n"
        "                      nibble first, stored as q+8); experts fused as\n"
        "                      mlp.experts.gate_up_proj_q8 / down_proj_q8 [E,out,in].\n"
        "  compressed-tensors  vLLM's pack-quantized W8A16/W4A16: weight_packed (int32),\n"
        "                      weight_scale [out,n_groups], weight_shape; one module per\n"
        "                      expert (mlp.experts.E.gate_proj ...).\n"
        "Also writes config.json (with quantization_config) and apex_provenance.json\n"
        "(source sha256, bits, group, per-tensor max/mean reconstruction error). Memory\n"
        "stays near one slab of rows; output appears only when complete.\n"
        "Example: apex export-int out/ --from model-Q8_0.gguf --bits 4 --group 128");
    sub->add_option("out_dir", args->out_dir, "output directory (must not exist)")->required();
    sub->add_option("--from", args->from, "source GGUF model")->required();
    sub->add_option("--bits", args->bits, "8 or 4 (default 8)");
    sub->add_option("--group", args->group, "input columns per scale (default 128)");
    sub->add_option("--format", args->format, "apex (default) or compressed-tensors");
    sub->add_option("--max-shard-mb", args->shard_mb,
                    "largest safetensors shard in MiB (default 4096)");
    sub->add_option("--threads", args->threads, "worker threads (default: all)");
    sub->add_flag("--no-hash", args->no_hash, "skip the source sha256 in the provenance file");
    sub->add_flag("--json", args->json, "machine-readable summary");
    sub->add_flag("--no-progress", args->no_progress, "no progress bar");
    return sub;
  };
  c.run = [args]() {
    auto format = xport::parse_int_format(args->format);
    if (!format.ok()) return fail(format.message());
    xport::IntExportOptions o;
    o.gguf_path = args->from;
    o.out_dir = args->out_dir;
    o.bits = args->bits;
    o.group = args->group;
    o.format = *format;
    o.max_shard_bytes = args->shard_mb << 20;
    o.n_threads = args->threads;
    o.hash_source = !args->no_hash;
    std::unique_ptr<ProgressBar> bar;
    uint64_t shown = 0;
    if (!args->no_progress && !args->json) {
      o.progress = [&](uint64_t done, uint64_t total, std::string_view name) {
        if (!bar) bar = std::make_unique<ProgressBar>("export-int", total);
        bar->advance(done - shown, std::string(name));
        shown = done;
      };
    }
    auto rep = xport::export_int(o);
    if (bar) bar->finish();
    if (!rep.ok()) return fail(rep.message());
    double worst = 0;
    std::string worst_name;
    for (const auto& t : rep->tensors) {
      if (t.max_abs_err >= worst) {
        worst = t.max_abs_err;
        worst_name = t.name;
      }
    }
    if (args->json) {
      nlohmann::ordered_json j = {{"out_dir", rep->out_dir},
                                  {"architecture", rep->arch},
                                  {"format", args->format},
                                  {"bits", args->bits},
                                  {"group_size", args->group},
                                  {"tensors", rep->tensors.size()},
                                  {"shards", rep->n_shards},
                                  {"tensor_bytes", rep->bytes_written},
                                  {"source_sha256", rep->source_sha256},
                                  {"max_abs_error", worst},
                                  {"max_abs_error_tensor", worst_name}};
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}: {} {} INT{} group {} ({}), {} tensors, {:.1f} MiB in {} shard(s); "
                 "largest error {:.3g} in {}\n",
                 rep->out_dir, rep->arch, args->format, args->bits, args->group,
                 rep->source_sha256.empty() ? "no hash" : "sha256 " + rep->source_sha256.substr(0, 12),
                 rep->tensors.size(), static_cast<double>(rep->bytes_written) / (1 << 20),
                 rep->n_shards, worst, worst_name);
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{130, make_export_int};

}  // namespace apex::cli
