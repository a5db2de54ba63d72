// Small but valid vocabularies for synthetic models.
//
// make_spm_vocab: a SentencePiece-style vocabulary ("llama" tokenizer model
// in GGUF terms): <unk>, <s>, </s>, the 256 byte
// fallback tokens <0x00>..<0xFF>, the word-start marker and the printable
// ASCII characters, then generated pieces. Every generated piece is the
// concatenation of two earlier pieces and scores fall with rank, so the SPM
// merge tokenizer really does build multi-character tokens from text.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace apex::synth {

// llama.cpp's token types (tokenizer.ggml.token_type values).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct Vocab {
  std::string model = "llama";  // tokenizer.ggml.model
  std::string pre;              // tokenizer.ggml.pre; empty: not written
  std::vector<std::string> tokens;
  std::vector<float> scores;    // empty: not written (byte-level BPE)
  std::vector<int32_t> types;   // TokenType values
  std::vector<std::string> merges;  // "left right", rank order; BPE only
  // (key suffix, id): tokenizer.ggml.<suffix>_token_id, in this order.
  std::vector<std::pair<std::string, int32_t>> special_ids = {{"bos", 1}, {"eos", 2}, {"unknown", 0}};
  bool add_bos = true;
  bool write_add_space_prefix = false;  // writes tokenizer.ggml.add_space_prefix = false (gemma4)
};

// Which vocabulary an architecture's real GGUF files carry (the converter's
// set_vocab for that family), as data on its ArchSpec.
enum class VocabKind : uint8_t {
  kSpm,      // "llama": SentencePiece pieces with scores, <0xXX> byte fallback
  kByteBpe,  // "gpt2": GPT-2 byte-to-unicode symbols and merges, a pre-tokenizer regex
  kSpBpe,    // "gemma4": merges over raw UTF-8 with U+2581 for spaces, <0xXX> byte fallback
};

struct SpecialId {
  const char* key;   // tokenizer.ggml.<key>_token_id
  const char* text;  // one of the family's control tokens
};

struct TokenizerSpec {
  VocabKind kind = VocabKind::kSpm;
  const char* model = "llama";   // tokenizer.ggml.model
  const char* pre = nullptr;     // tokenizer.ggml.pre (null: not written)
  // Control tokens at the start of the vocabulary (ids 0, 1, ...) and after
  // the merged tokens (the highest ids), as the family's vocabulary has them.
  std::span<const char* const> lead;
  std::span<const char* const> tail;
  std::span<const SpecialId> ids;
  bool add_bos = false;          // tokenizer.ggml.add_bos_token
};

inline constexpr int64_t kMinVocab = 3 + 256;  // specials + byte tokens

// The vocabulary of n_vocab tokens. It depends only on n_vocab (not on the
// weight seed), so models of one vocab size tokenize text identically.
Result<Vocab> make_spm_vocab(int64_t n_vocab);

// A BPE vocabulary of n_vocab tokens of kind kByteBpe or kSpBpe: the
// family's control tokens, the base symbols (byte-level: the 256 bytes in
// GPT-2's byte-to-unicode spelling; kSpBpe: the 256 <0xXX> byte tokens and
// the printable ASCII characters with U+2581 for the space), then tokens
// each made by one merge of two earlier tokens (ranks in the order they are
// made): whitespace runs, common English words and word pieces with and
// without a leading space, digit pairs, code operators, then generated
// word-like pieces. Like make_spm_vocab it depends only on n_vocab and spec.
Result<Vocab> make_bpe_vocab(int64_t n_vocab, const TokenizerSpec& spec);

}  // namespace apex::synth
