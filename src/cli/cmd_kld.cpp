// apex kld BASE.gguf QUANT.gguf -f TEXT | --tokens FILE [--ctx N] [--chunks N] [--batch N]
//          [--save-logits BASE.bin] [--json]:
// one-shot `perplexity BASE --save-logits` then `perplexity QUANT --kl-divergence-base`.
// The base log-probabilities go through a llama-perplexity file (a temporary
// one unless --save-logits names it), so the one-shot figures are exactly
// the two-step ones.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/kld_cli.h"
#include "engine/weights.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "util/temp_files.h"

namespace apex::cli {

Command make_kld() {
  struct Args {
    std::string base, quant, text_file, token_file;
    eval::PerplexityOptions opts;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "kld",
        "KL divergence of QUANT against BASE on a text, as llama-perplexity --kl-divergence\n"
        "reports it: mean KLD +/- stderr, median, max, min, percentiles, same top token,\n"
        "RMS delta p, ln(PPL(Q)/PPL(base)) and the PPL ratio.");
    sub->add_option("base", args->base, "reference GGUF model (e.g. F16)")->required();
    sub->add_option("quant", args->quant, "quantized GGUF model")->required();
    auto* f = sub->add_option("-f,--file", args->text_file, "text file");
    auto* t = sub->add_option("--tokens", args->token_file, "file of whitespace-separated token ids instead of text");
    f->excludes(t);
    sub->add_option("--ctx", args->opts.n_ctx, "tokens per chunk (default 512)");
    sub->add_option("--chunks", args->opts.n_chunks, "chunks to score (default: all)");
    sub->add_option("--batch", args->opts.n_batch, "tokens per forward batch (default 512)");
    sub->add_option("--save-logits", args->opts.save_logits, "keep the base log-probabilities in this file");
    sub->add_flag("--json", args->json, "machine-readable output");
    return sub;
  };
  c.run = [args]() {
    if (args->text_file.empty() && args->token_file.empty()) return fail("kld: give -f TEXT or --tokens FILE");
    const bool keep = !args->opts.save_logits.empty();
    if (!keep) {
      args->opts.save_logits = (std::filesystem::temp_directory_path() /
                                fmt::format("apex-kld-base-{}.bin", ::getpid())).string();
      register_temp_file(args->opts.save_logits);
    }
    auto cleanup = [&] {
      if (keep) return;
      std::error_code ec;
      std::filesystem::remove(args->opts.save_logits, ec);
      unregister_temp_file(args->opts.save_logits);
    };
    {
      auto base = engine::load_model(args->base);
      if (!base) return cleanup(), fail(base.message());
      auto tokens = read_eval_tokens(**base, args->text_file, args->token_file);
      if (!tokens) return cleanup(), fail(tokens.message());
      auto r = eval::perplexity(**base, *tokens, args->opts);
      if (!r) return cleanup(), fail(r.message());
    }
    auto quant = engine::load_model(args->quant);
    if (!quant) return cleanup(), fail(quant.message());
    // The text through QUANT's own tokenizer must give the base's stream:
    // a different vocabulary is reported here, not as a wrong KLD.
    auto tokens = read_eval_tokens(**quant, args->text_file, args->token_file);
    if (!tokens) return cleanup(), fail(tokens.message());
    const int rc = run_kl_divergence(**quant, args->opts.save_logits, std::move(*tokens), args->opts.n_batch,
                                     args->json);
    cleanup();
    return rc;
  };
  return c;
}

static const CommandRegistration kRegistered{70, make_kld};

}  // namespace apex::cli
