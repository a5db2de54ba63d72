// apex imatrix MODEL (-f CALIB.txt | --self-generate N) -o OUT [--ctx N] [--chunks N]
//              [--batch N] [--format gguf|dat] [--process-output] [--json]:
// llama-imatrix's statistics (mean squared input activations of every matrix
// product, per expert for expert tensors) computed with apex's own engine,
// with a coverage report (tokens per expert, experts that got none).
// apex imatrix info|merge|convert: see cmd_imatrix_tools.cpp.
#include <fmt/format.h>

#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/cmd_imatrix_tools.h"
#include "cli/commands.h"
#include "cli/kld_cli.h"
#include "engine/weights.h"
#include "imatrix/collect.h"
#include "imatrix/coverage.h"
#include "imatrix/self_generate.h"

namespace apex::cli {

Command make_imatrix() {
  struct Args {
    std::string model, text_file, output, format = "gguf";
    imatrix::CollectOptions opts;
    imatrix::SelfGenerateOptions gen;
    bool json = false;
    ImatrixTools tools;
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
        "or the legacy .dat; output.weight only with --process-output. Prints how many tokens\n"
        "each expert received and which got none (see docs/IMATRIX.md for what the quantizer\n"
        "does with those).\n\n"
        "  apex imatrix model-f16.gguf -f calibration.txt -o imatrix.gguf\n"
        "  apex imatrix model-f16.gguf --self-generate 8192 --seed 1 -o imatrix.gguf   # no corpus\n"
        "  apex imatrix info imatrix.gguf             # entries, chunks, coverage, value ranges\n"
        "  apex imatrix merge a.gguf b.gguf -o ab.gguf # sums and counts add\n"
        "  apex imatrix convert imatrix.dat imatrix.gguf");
    sub->add_option("model", args->model, "GGUF model");
    sub->add_option("-f,--file", args->text_file, "calibration text (tokenized with the model's vocabulary)");
    sub->add_option("-o,--output", args->output, "imatrix file to write");
    sub->add_option("--ctx", args->opts.n_ctx, "tokens per chunk (default 512)");
    sub->add_option("--chunks", args->opts.n_chunks, "chunks to process (default: all)");
    sub->add_option("--batch", args->opts.n_batch, "tokens per forward batch (default 512)");
    sub->add_option("--format", args->format, "gguf (default) or dat (legacy)")
        ->check(CLI::IsMember({"gguf", "dat"}));
    sub->add_flag("--process-output", args->opts.process_output, "also collect output.weight");
    sub->add_option("--self-generate", args->gen.n_tokens,
                    "instead of -f: sample N tokens from the model itself (sequences of --ctx tokens\n"
                    "starting at BOS, rounded up to whole sequences, at least 2)");
    sub->add_option("--seed", args->gen.seed, "--self-generate: random seed (default 42)");
    sub->add_option("--temp", args->gen.temperature, "--self-generate: temperature (default 0.8)");
    sub->add_option("--top-k", args->gen.top_k, "--self-generate: sample among the K likeliest tokens (default 40)");
    sub->add_flag("--json", args->json, "machine-readable summary (with per-layer expert coverage)");
    add_imatrix_tools(sub, args->tools);
    return sub;
  };
  c.run = [args]() {
    if (auto code = run_imatrix_tools(args->tools)) return *code;
    if (args->model.empty()) return fail("imatrix: give a MODEL (or one of: info, merge, convert)");
    if (args->output.empty()) return fail("imatrix: give the output file with -o OUT");
    const bool self = args->gen.n_tokens > 0;
    if (self == !args->text_file.empty()) {
      return fail("imatrix: give exactly one of -f CALIB.txt and --self-generate N");
    }
    auto model = engine::load_model(args->model);
    if (!model) return fail(model.message());
    std::vector<int32_t> tokens;
    if (self) {
      args->gen.seq_len = args->opts.n_ctx;
      auto on_token = [&](int64_t done, int64_t total) {
        if (!args->json && (done % 64 == 0 || done == total)) {
          fmt::print(stderr, "\rimatrix: generating {}/{} tokens", done, total);
          if (done == total) fmt::print(stderr, "\n");
          std::fflush(stderr);
        }
      };
      auto gen = imatrix::self_generate(**model, args->gen, on_token);
      if (!gen) return fail(gen.message());
      tokens = std::move(gen).value();
      args->opts.dataset = fmt::format("self-generated: {} tokens, seed {}, temperature {}, top-k {}",
                                       tokens.size(), args->gen.seed, args->gen.temperature, args->gen.top_k);
    } else {
      auto read = read_eval_tokens(**model, args->text_file, "");
      if (!read) return fail(read.message());
      tokens = std::move(read).value();
      args->opts.dataset = args->text_file;  // as llama-imatrix records the prompt file
      if (static_cast<int64_t>(tokens.size()) < 2 * args->opts.n_ctx) {
        return fail(fmt::format("{}: the calibration text gives {} tokens, too short for {} tokens of chunks "
                                "(2 x --ctx {}): give more text or a smaller --ctx",
                                args->text_file, tokens.size(), 2 * args->opts.n_ctx, args->opts.n_ctx));
      }
    }
    auto on_chunk = [&](int chunk, int n_chunks) {
      if (!args->json) {
        fmt::print(stderr, "\rimatrix: chunk {}/{}", chunk, n_chunks);
        if (chunk == n_chunks) fmt::print(stderr, "\n");
        std::fflush(stderr);
      }
    };
    auto m = imatrix::collect(**model, tokens, args->opts, on_chunk);
    if (!m) return fail(m.message());
    const bool dat = args->format == "dat";
    Status s = dat ? imatrix::save_dat(*m, args->output) : imatrix::save_gguf(*m, args->output);
    if (!s.ok()) return fail(s.message());
    int64_t expert_entries = 0;
    for (const auto& e : m->entries) expert_entries += e.n_mat() > 1;
    const imatrix::Coverage cov = imatrix::coverage(*m);
    if (args->json) {
      nlohmann::json j;
      j["output"] = args->output;
      j["format"] = args->format;
      j["chunks"] = m->chunk_count;
      j["n_ctx"] = m->chunk_size;
      j["tokens"] = static_cast<int64_t>(m->chunk_count) * m->chunk_size;
      j["entries"] = m->entries.size();
      j["expert_entries"] = expert_entries;
      j["datasets"] = m->datasets;
      j["coverage"] = cov.to_json();
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}: {} entries ({} per expert) from {} chunks of {} tokens\n", args->output,
                 m->entries.size(), expert_entries, m->chunk_count, m->chunk_size);
      fmt::print("{}", cov.table());
      fmt::print("coverage: {}\n", cov.summary());
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{110, make_imatrix};

}  // namespace apex::cli
