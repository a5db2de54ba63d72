// A model's vocabulary as llama.cpp reads it from GGUF metadata
// (tokenizer.ggml.*): tokens, scores, token types turned into attributes,
// merges, special ids, add-BOS/EOS flags and the pre-tokenizer of
// tokenizer.ggml.pre, including llama.cpp's load-time fix-ups (tokens it
// recognises by their text as end-of-generation or FIM markers become
// control tokens; gpt-oss's channel markers become user-defined).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/regex.h"
#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::tok {

inline constexpr int32_t kNoToken = -1;

// tokenizer.ggml.token_type values (wire format).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// llama.cpp's token attributes (bit set), derived from the token type.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
};

enum class VocabType { kSpm, kBpe };  // tokenizer.ggml.model "llama" / "gpt2" and "gemma4"

// Hash for string maps looked up by string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct Vocab {
  VocabType type = VocabType::kSpm;
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre ("" when absent)

  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<uint32_t> attrs;  // TokenAttr bits
  StringMap<int32_t> token_to_id;
  // BPE merges keyed by their GGUF text "left right"; value = rank.
  StringMap<int32_t> merges;

  int32_t bos = kNoToken, eos = kNoToken, unk = kNoToken, pad = kNoToken;
  int32_t eot = kNoToken;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: a space before the text (and after each special token)
  bool clean_spaces = false;      // detokenize: " ." -> "." etc.
  bool ignore_merges = false;     // BPE: a word that is a token is taken whole
  std::vector<Regex> pre_regexes; // BPE pre-tokenizer, applied in order
  // SentencePiece-flavoured BPE (gemma4): spaces become U+2581 before the
  // pre-tokenizer, words are merged as raw UTF-8 (no GPT-2 byte encoding),
  // unknown bytes fall back to <0xXX> tokens, and a newline run that is a
  // token is taken whole.
  bool escape_whitespaces = false;
  bool byte_encode = true;
  bool whole_newline_runs = false;

  // Control, user-defined and unknown tokens, longest text first: the order
  // in which their text is cut out of the input.
  std::vector<int32_t> special_tokens;

  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t find(std::string_view text) const;
  // Merge rank of (left, right), or -1.
  int32_t merge_rank(const std::string& left, const std::string& right) const;
  // The token of a raw byte: <0xXX>, else the byte itself as a token (SPM);
  // kNoToken when neither exists.
  int32_t byte_token(uint8_t byte) const;
  // The <0xXX> token of a byte, or kNoToken.
  int32_t byte_token_hex(uint8_t byte) const;
};

// Reads the vocabulary of a GGUF file. Errors name the file and the key.
Result<Vocab> load_vocab(const gguf::File& file);

// The pre-tokenizer regexes llama.cpp uses for a tokenizer.ggml.pre name
// (false = unknown name); also sets the name's flags on `vocab`, and
// force_add_bos when the name adds BOS whatever the file says.
bool configure_pre_tokenizer(const std::string& pre, Vocab& vocab, std::vector<std::string>& regexes,
                             bool& force_add_bos);

}  // namespace apex::tok
