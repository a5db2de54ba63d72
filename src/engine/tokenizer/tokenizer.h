// Text <-> token ids with a model's own vocabulary, identical to llama.cpp's
// llama_tokenize / llama_token_to_piece / llama_detokenize:
//
//  1. Special-token text (control, user-defined and unknown tokens, longest
//     first) is cut out of the input; control and unknown tokens only when
//     parse_special is set, user-defined ones always.
//  2. Each remaining piece of text is tokenized on its own:
//     - SPM ("llama"): a space is put in front of a piece that starts the
//       text or follows a special token (add_space_prefix), spaces become
//       U+2581, then adjacent symbols are merged by the highest score of the
//       merged token (leftmost first on ties) until nothing merges; pieces
//       that are not tokens fall back to <0xXX> byte tokens.
//     - BPE ("gpt2"): the pre-tokenizer regexes split the piece into words,
//       each word is byte-encoded (GPT-2 map) and merged by merge rank.
//  3. With add_special, BOS/EOS are added as the vocabulary says.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/vocab.h"
#include "util/status.h"

namespace apex::tok {

class Tokenizer {
 public:
  explicit Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
  // The vocabulary of a GGUF model file.
  static Result<Tokenizer> from_file(const gguf::File& file);
  static Result<Tokenizer> open(const std::string& gguf_path);

  std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const;

  // llama_token_to_piece(token, lstrip 0): control/unknown tokens render as
  // their text only with `special`; byte tokens as their byte.
  std::string token_to_piece(int32_t token, bool special = true) const;

  // llama_detokenize: pieces joined; remove_special drops a leading BOS /
  // trailing EOS the vocabulary adds; with add_space_prefix the first
  // piece's leading space goes; clean_spaces vocabularies undo " ." etc.
  std::string detokenize(std::span<const int32_t> tokens, bool remove_special = false,
                         bool unparse_special = false) const;

  const Vocab& vocab() const { return vocab_; }

 private:
  Vocab vocab_;
  void tokenize_spm(std::string_view text, std::vector<int32_t>& out) const;
  void tokenize_bpe(std::string_view text, std::vector<int32_t>& out) const;
};

}  // namespace apex::tok
