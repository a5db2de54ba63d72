// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) turned
// into GGUF tokenizer metadata the way llama.cpp's convert_hf_to_gguf.py
// writes it, so synthetic models (and the converter of issue 9) carry real
// vocabularies:
//  - byte-level BPE ("gpt2"): every id of the vocabulary and the added
//    tokens (gaps become "[PAD<i>]", unused); added tokens are control when
//    marked special or when they look special (<|...|>, <｜...｜>, ...),
//    user-defined otherwise; merges as "left right" (a space inside a part
//    written as U+0120); tokenizer.ggml.pre from the pre-tokenizer.
//  - byte-fallback BPE with a SentencePiece-style decoder (Llama 2):
//    "llama" with scores -1000, <0xXX> byte tokens, the special tokens as
//    control, added tokens after the base vocabulary; pre "default".
//  - special ids from tokenizer_config.json's *_token entries (looked up in
//    the added tokens) and add_bos/add_eos from its add_*_token flags or the
//    post-processor's template.
//
// The converter picks tokenizer.ggml.pre by hashing the ids the Python
// tokenizer gives for a fixed text; without Python we recognise the
// pre-tokenizer's Split patterns instead (Qwen2/3 -> "qwen2", Llama 3 ->
// "llama-bpe", DeepSeek-V3 -> "deepseek-v3", o200k/gpt-oss -> "gpt-4o",
// plain ByteLevel -> "gpt-2"); anything else is an error naming the pattern.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::synth {

struct HfVocab {
  std::string model;  // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre;    // tokenizer.ggml.pre
  std::vector<std::string> tokens;
  std::vector<float> scores;    // "llama" only
  std::vector<int32_t> types;   // tokenizer.ggml.token_type values
  std::vector<std::string> merges;  // "gpt2" only
  // (GGUF key suffix, id) in the converter's order: bos, eos, unk, sep, pad, cls, mask.
  std::vector<std::pair<std::string, uint32_t>> special_ids;
  // (add_bos / add_eos / add_sep, value) when the files say so.
  std::vector<std::pair<std::string, bool>> add_flags;
};

// Reads tokenizer.json and, when config_path is empty, the
// tokenizer_config.json beside it (if present).
Result<HfVocab> load_hf_tokenizer(const std::string& tokenizer_json, const std::string& config_path = "");

// Sets the tokenizer.ggml.* keys of `vocab` on `layout` (converter order).
void add_hf_vocab_metadata(const HfVocab& vocab, gguf::Layout& layout);

}  // namespace apex::synth
