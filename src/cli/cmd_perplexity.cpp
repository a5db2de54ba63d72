// apex perplexity MODEL -f TEXT | --tokens FILE [--ctx N] [--chunks N] [--batch N] [--json]:
// llama-perplexity's method with apex's own engine.
#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "engine/weights.h"
#include "eval/perplexity.h"

namespace apex::cli {

Command make_perplexity() {
  struct Args {
    std::string model, text_file, token_file;
    eval::PerplexityOptions opts;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "perplexity",
        "Perplexity of a model on a text, as llama-perplexity computes it: chunks of --ctx\n"
        "tokens, BOS at each chunk start when the vocabulary adds BOS, only the second half\n"
        "of each chunk scored. Prints the running estimate per chunk and PPL +/- stderr.");
    sub->add_option("model", args->model, "GGUF model")->required();
    auto* f = sub->add_option("-f,--file", args->text_file, "text file (tokenized with the model's vocabulary)");
    auto* t = sub->add_option("--tokens", args->token_file, "file of whitespace-separated token ids instead of text");
    f->excludes(t);
    sub->add_option("--ctx", args->opts.n_ctx, "tokens per chunk (default 512)");
    sub->add_option("--chunks", args->opts.n_chunks, "chunks to score (default: all)");
    sub->add_option("--batch", args->opts.n_batch, "tokens per forward batch (default 512)");
    sub->add_flag("--json", args->json, "machine-readable output");
    return sub;
  };
  c.run = [args]() {
    if (args->text_file.empty() && args->token_file.empty()) return fail("perplexity: give -f TEXT or --tokens FILE");
    auto model = engine::load_model(args->model);
    if (!model) return fail(model.message());
    auto on_chunk = [&](int chunk, double ppl) {
      if (!args->json) {
        fmt::print("[{}]{:.4f},", chunk, ppl);
        std::fflush(stdout);
      }
    };
    Result<eval::PerplexityResult> r = make_error("unreachable");
    if (!args->token_file.empty()) {
      auto tokens = eval::read_token_file(args->token_file);
      if (!tokens) return fail(tokens.message());
      r = eval::perplexity(**model, *tokens, args->opts, on_chunk);
    } else {
      std::ifstream in(args->text_file, std::ios::binary);
      if (!in) return fail(fmt::format("{}: cannot open text file", args->text_file));
      std::stringstream ss;
      ss << in.rdbuf();
      r = eval::perplexity_text(**model, ss.str(), args->opts, on_chunk);
    }
    if (!r) return fail(r.message());
    if (args->json) {
      fmt::print("{}\n", eval::to_json(*r).dump(2));
    } else {
      fmt::print("\nFinal estimate: PPL = {:.4f} +/- {:.5f}\n", r->ppl, r->ppl_stderr);
    }
    return 0;
  };
  return c;
}

}  // namespace apex::cli
