// apex imatrix MODEL -f CALIB.txt -o OUT [--ctx N] [--chunks N] [--batch N]
//              [--format gguf|dat] [--process-output] [--json]:
// llama-imatrix's statistics (mean squared input activations of every matrix
// product, per expert for expert tensors) computed with apex's own engine.
#include <fmt/format.h>

#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/kld_cli.h"
#include "engine/weights.h"
#include "imatrix/collect.h"

namespace apex::cli {

Command make_imatrix() {
  struct Args {
    std::string model, text_file, output, format = "gguf";
    imatrix::CollectOptions opts;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "imatrix",
        "Importance matrix of a model on a calibration text, as llama-imatrix computes it:\n"
        "chunks of --ctx tokens (BOS at each chunk start when the vocabulary adds BOS); per\n"
        "weight matrix the sum of squared input activations per column and the rows counted,\n"
        "per expert for expert tensors. Written in llama.cpp's GGUF imatrix format (default)\n"
        "or the legacy .dat; output.weight only with --process-output.");
    sub->add_option("model", args->model, "GGUF model")->required();
    sub->add_option("-f,--file", args->text_file, "calibration text (tokenized with the model's vocabulary)")
        ->required();
    sub->add_option("-o,--output", args->output, "imatrix file to write")->required();
    sub->add_option("--ctx", args->opts.n_ctx, "tokens per chunk (default 512)");
    sub->add_option("--chunks", args->opts.n_chunks, "chunks to process (default: all)");
    sub->add_option("--batch", args->opts.n_batch, "tokens per forward batch (default 512)");
    sub->add_option("--format", args->format, "gguf (default) or dat (legacy)")
        ->check(CLI::IsMember({"gguf", "dat"}));
    sub->add_flag("--process-output", args->opts.process_output, "also collect output.weight");
    sub->add_flag("--json", args->json, "machine-readable summary");
    return sub;
  };
  c.run = [args]() {
    auto model = engine::load_model(args->model);
    if (!model) return fail(model.message());
    auto tokens = read_eval_tokens(**model, args->text_file, "");
    if (!tokens) return fail(tokens.message());
    args->opts.dataset = args->text_file;  // as llama-imatrix records the prompt file
    auto on_chunk = [&](int chunk, int n_chunks) {
      if (!args->json) {
        fmt::print(stderr, "\rimatrix: chunk {}/{}", chunk, n_chunks);
        if (chunk == n_chunks) fmt::print(stderr, "\n");
        std::fflush(stderr);
      }
    };
    auto m = imatrix::collect(**model, *tokens, args->opts, on_chunk);
    if (!m) return fail(m.message());
    const bool dat = args->format == "dat";
    Status s = dat ? imatrix::save_dat(*m, args->output) : imatrix::save_gguf(*m, args->output);
    if (!s.ok()) return fail(s.message());
    int64_t expert_entries = 0;
    for (const auto& e : m->entries) expert_entries += e.n_mat() > 1;
    if (args->json) {
      nlohmann::json j;
      j["output"] = args->output;
      j["format"] = args->format;
      j["chunks"] = m->chunk_count;
      j["n_ctx"] = m->chunk_size;
      j["tokens"] = static_cast<int64_t>(m->chunk_count) * m->chunk_size;
      j["entries"] = m->entries.size();
      j["expert_entries"] = expert_entries;
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}: {} entries ({} per expert) from {} chunks of {} tokens\n", args->output,
                 m->entries.size(), expert_entries, m->chunk_count, m->chunk_size);
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{110, make_imatrix};

}  // namespace apex::cli
