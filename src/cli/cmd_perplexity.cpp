// apex perplexity MODEL -f TEXT | --tokens FILE [--ctx N] [--chunks N] [--batch N] [--json]
//                   [--save-logits BASE.bin] [--kl-divergence-base BASE.bin]:
// llama-perplexity's method with apex's own engine; the logits file is
// llama-perplexity's, so either tool can read what the other wrote.
#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/kld_cli.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/weights.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"

namespace apex::cli {

Result<std::vector<int32_t>> read_eval_tokens(const engine::Model& model, const std::string& text_file,
                                              const std::string& token_file) {
  if (!token_file.empty()) return eval::read_token_file(token_file);
  std::ifstream in(text_file, std::ios::binary);
  if (!in) return make_error("{}: cannot open text file", text_file);
  std::stringstream ss;
  ss << in.rdbuf();
  auto tk = tok::Tokenizer::from_file(*model.file);
  if (!tk) return tk.error();
  // As llama-perplexity: add_special (BOS when the vocabulary adds it), no special parsing.
  return tk->tokenize(ss.str(), /*add_special=*/true, /*parse_special=*/false);
}

int run_kl_divergence(const engine::Model& model, const std::string& base_path,
                      std::optional<std::vector<int32_t>> tokens, int64_t n_batch, bool json) {
  auto base = eval::LogitsReader::open(base_path);
  if (!base) return fail(base.message());
  eval::KldOptions opts;
  opts.n_batch = n_batch;
  opts.expected_tokens = std::move(tokens);
  bool header_done = false;
  auto on_chunk = [&](const eval::KldChunkLine& line) {
    if (json) return;
    if (!header_done) {
      fmt::print("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
                 "Δp RMS            Same top p\n");
      header_done = true;
    }
    fmt::print("{}\n", eval::format_chunk_line(line));
    std::fflush(stdout);
  };
  auto r = eval::kl_divergence(model, *base, opts, on_chunk);
  if (!r) return fail(r.message());
  if (json) {
    fmt::print("{}\n", eval::to_json(*r).dump(2));
  } else {
    fmt::print("\n{}", eval::format_text(*r));
  }
  return 0;
}

Command make_perplexity() {
  struct Args {
    std::string model, text_file, token_file, kld_base;
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
        "of each chunk scored. Prints the running estimate per chunk and PPL +/- stderr.\n"
        "--save-logits writes the scored log-probabilities in llama-perplexity's format;\n"
        "--kl-divergence-base compares this model with such a file (KLD, delta p, same top\n"
        "token, PPL ratio) over the file's own tokens, chunks and context.");
    sub->add_option("model", args->model, "GGUF model")->required();
    auto* f = sub->add_option("-f,--file", args->text_file, "text file (tokenized with the model's vocabulary)");
    auto* t = sub->add_option("--tokens", args->token_file, "file of whitespace-separated token ids instead of text");
    f->excludes(t);
    sub->add_option("--ctx", args->opts.n_ctx, "tokens per chunk (default 512)");
    sub->add_option("--chunks", args->opts.n_chunks, "chunks to score (default: all)");
    sub->add_option("--batch", args->opts.n_batch, "tokens per forward batch (default 512)");
    auto* save = sub->add_option("--save-logits", args->opts.save_logits,
                                 "write the scored log-probabilities to this file (llama-perplexity's "
                                 "--kl-divergence-base format)");
    sub->add_option("--kl-divergence-base", args->kld_base,
                       "KL divergence against this log-probability file; -f/--tokens optional (when given, "
                       "checked against the file's tokens)")
        ->excludes(save);
    sub->add_flag("--json", args->json, "machine-readable output");
    return sub;
  };
  c.run = [args]() {
    const bool kld = !args->kld_base.empty();
    const bool have_input = !args->text_file.empty() || !args->token_file.empty();
    if (!kld && !have_input) return fail("perplexity: give -f TEXT or --tokens FILE");
    auto model = engine::load_model(args->model);
    if (!model) return fail(model.message());
    if (kld) {
      std::optional<std::vector<int32_t>> tokens;
      if (have_input) {
        auto t = read_eval_tokens(**model, args->text_file, args->token_file);
        if (!t) return fail(t.message());
        tokens = std::move(*t);
      }
      return run_kl_divergence(**model, args->kld_base, std::move(tokens), args->opts.n_batch, args->json);
    }
    auto on_chunk = [&](int chunk, double ppl) {
      if (!args->json) {
        fmt::print("[{}]{:.4f},", chunk, ppl);
        std::fflush(stdout);
      }
    };
    auto tokens = read_eval_tokens(**model, args->text_file, args->token_file);
    if (!tokens) return fail(tokens.message());
    auto r = eval::perplexity(**model, *tokens, args->opts, on_chunk);
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

static const CommandRegistration kRegistered{60, make_perplexity};

}  // namespace apex::cli
