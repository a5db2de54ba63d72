// A small but valid SentencePiece-style vocabulary ("llama" tokenizer model
// in GGUF terms) for synthetic models: <unk>, <s>, </s>, the 256 byte
// fallback tokens <0x00>..<0xFF>, the word-start marker and the printable
// ASCII characters, then generated pieces. Every generated piece is the
// concatenation of two earlier pieces and scores fall with rank, so the SPM
// merge tokenizer really does build multi-character tokens from text.
#pragma once

#include <cstdint>
#include <string>
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
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // TokenType values
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
};

inline constexpr int64_t kMinVocab = 3 + 256;  // specials + byte tokens

// The vocabulary of n_vocab tokens. It depends only on n_vocab (not on the
// weight seed), so models of one vocab size tokenize text identically.
Result<Vocab> make_spm_vocab(int64_t n_vocab);

}  // namespace apex::synth
