// apex tokenize MODEL.gguf -f TEXT [--ids|--json] [--no-bos] [--parse-special]:
// the model's own tokenizer on a text file, as llama.cpp tokenizes it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "engine/tokenizer/tokenizer.h"

namespace apex::cli {

Command make_tokenize() {
  struct Args {
    std::string model, file;
    bool ids = false, json = false, no_bos = false, parse_special = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "tokenize",
        "Tokenize a text file with a model's vocabulary (GGUF tokenizer.ggml.* metadata),\n"
        "giving the ids llama.cpp's llama_tokenize gives. Default output: one\n"
        "'id piece' line per token.\n\n"
        "  apex tokenize model.gguf -f prompt.txt --ids");
    sub->add_option("model", args->model, "GGUF model (only its vocabulary is read)")->required();
    sub->add_option("-f,--file", args->file, "text file to tokenize")->required();
    auto* ids = sub->add_flag("--ids", args->ids, "print the ids only, space-separated");
    sub->add_flag("--json", args->json, "print {\"tokens\": [...], \"pieces\": [...]}")->excludes(ids);
    sub->add_flag("--no-bos", args->no_bos, "do not add the BOS/EOS tokens the vocabulary asks for");
    sub->add_flag("--parse-special", args->parse_special,
                  "treat control-token text (e.g. <|im_end|>) in the input as those tokens");
    return sub;
  };
  c.run = [args]() {
    std::ifstream in(args->file, std::ios::binary);
    if (!in) return fail(fmt::format("{}: cannot open", args->file));
    std::stringstream text;
    text << in.rdbuf();
    auto tok = tok::Tokenizer::open(args->model);
    if (!tok.ok()) return fail(tok.message());
    const std::vector<int32_t> ids = tok->tokenize(text.str(), !args->no_bos, args->parse_special);
    if (args->json) {
      nlohmann::json j;
      j["tokens"] = ids;
      nlohmann::json pieces = nlohmann::json::array();
      for (const int32_t id : ids) {
        pieces.push_back(tok->token_to_piece(id));
      }
      j["pieces"] = std::move(pieces);
      fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else if (args->ids) {
      fmt::print("{}\n", fmt::join(ids, " "));
    } else {
      for (const int32_t id : ids) fmt::print("{} '{}'\n", id, tok->token_to_piece(id));
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{50, make_tokenize};

}  // namespace apex::cli
