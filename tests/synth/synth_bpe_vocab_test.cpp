// make_bpe_vocab: the structure a BPE vocabulary must have for llama.cpp's
// tokenizer to work on it, checked from the definition of BPE (every merge
// joins two tokens that exist before it into a token that exists), and
// synth's choice of vocabulary per architecture. Tokenization itself is
// compared with llama.cpp in tests/engine/tokenizer_arch_vocab_test.cpp.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "synth/tokenizer_specs.h"
#include "synth/vocab.h"

namespace apex::synth {
namespace {

void expect_valid_bpe(const Vocab& v, size_t n_vocab, const std::string& label) {
  ASSERT_EQ(v.tokens.size(), n_vocab) << label;
  ASSERT_EQ(v.types.size(), n_vocab) << label;
  std::map<std::string, size_t> id;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    EXPECT_TRUE(id.emplace(v.tokens[i], i).second) << label << ": duplicate token " << v.tokens[i];
  }
  ASSERT_GT(v.merges.size(), n_vocab / 2) << label;
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const std::string& m = v.merges[r];
    // llama.cpp splits a merge at the first space after its first byte and
    // asserts that neither side holds a space.
    const size_t sep = m.find(' ', 1);
    ASSERT_NE(sep, std::string::npos) << label << ": " << m;
    const std::string a = m.substr(0, sep), b = m.substr(sep + 1);
    EXPECT_EQ(b.find(' '), std::string::npos) << label << ": " << m;
    ASSERT_TRUE(id.count(a) && id.count(b) && id.count(a + b)) << label << ": merge " << r << " '" << m << "'";
    // The merged token comes after both parts (it is made from them).
    EXPECT_GT(id[a + b], id[a]) << label << ": " << m;
    EXPECT_GT(id[a + b], id[b]) << label << ": " << m;
  }
}

TEST(SynthBpeVocab, ByteLevelHasGpt2ByteSymbolsAndValidMerges) {
  auto v = make_bpe_vocab(2000, tokenizers::kQwen35);
  ASSERT_TRUE(v.ok()) << v.message();
  expect_valid_bpe(*v, 2000, "qwen35");
  // GPT-2's byte-to-unicode map: '!' is itself, space U+0120, newline U+010A,
  // byte 0xAD U+0143 (the last moved byte), 0xFF is ÿ.
  EXPECT_EQ(v->tokens[static_cast<size_t>('!')], "!");
  EXPECT_EQ(v->tokens[static_cast<size_t>(' ')], "\xc4\xa0");
  EXPECT_EQ(v->tokens[static_cast<size_t>('\n')], "\xc4\x8a");
  EXPECT_EQ(v->tokens[0xAD], "\xc5\x83");
  EXPECT_EQ(v->tokens[0xFF], "\xc3\xbf");
  std::set<std::string> bytes(v->tokens.begin(), v->tokens.begin() + 256);
  EXPECT_EQ(bytes.size(), 256u);
  // Merges build " the" (space + t + h + e).
  EXPECT_NE(std::find(v->tokens.begin(), v->tokens.end(), "\xc4\xa0the"), v->tokens.end());
  EXPECT_EQ(v->tokens.back(), "<|im_end|>");
  EXPECT_TRUE(v->scores.empty());
  EXPECT_EQ(v->model, "gpt2");
  EXPECT_EQ(v->pre, "qwen35");
}

TEST(SynthBpeVocab, EveryFamilyIsValidAndDeterministic) {
  for (const auto& [name, spec] :
       {std::pair{"qwen35", &tokenizers::kQwen35}, {"gpt-oss", &tokenizers::kGptOss},
        {"deepseek-v3", &tokenizers::kDeepseekV3}, {"glm4", &tokenizers::kGlm4},
        {"nemotron", &tokenizers::kNemotronH}, {"minimax-m2", &tokenizers::kMinimaxM2},
        {"olmoe", &tokenizers::kOlmoe}, {"gemma4", &tokenizers::kGemma4}}) {
    auto a = make_bpe_vocab(1500, *spec);
    ASSERT_TRUE(a.ok()) << name << ": " << a.message();
    expect_valid_bpe(*a, 1500, name);
    auto b = make_bpe_vocab(1500, *spec);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(a->tokens, b->tokens) << name;
    EXPECT_EQ(a->merges, b->merges) << name;
    // Special ids point at control (or unknown) tokens.
    for (const auto& [key, id] : a->special_ids) {
      ASSERT_GE(id, 0);
      const auto type = static_cast<TokenType>(a->types[static_cast<size_t>(id)]);
      EXPECT_TRUE(type == TokenType::kControl || type == TokenType::kUnknown) << name << " " << key;
    }
  }
}

TEST(SynthBpeVocab, Gemma4HasByteFallbackAndSpaceMark) {
  auto v = make_bpe_vocab(1000, tokenizers::kGemma4);
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(v->model, "gemma4");
  EXPECT_TRUE(v->pre.empty());
  EXPECT_EQ(v->tokens[2], "<bos>");
  size_t n_byte = 0;
  for (size_t i = 0; i < v->tokens.size(); ++i) n_byte += v->types[i] == static_cast<int32_t>(TokenType::kByte);
  EXPECT_EQ(n_byte, 256u);
  EXPECT_NE(std::find(v->tokens.begin(), v->tokens.end(), "\xe2\x96\x81the"), v->tokens.end());
  EXPECT_EQ(v->scores.size(), v->tokens.size());
}

TEST(SynthBpeVocab, TooSmallIsAnErrorNamingTheKind) {
  auto v = make_bpe_vocab(300, tokenizers::kGemma4);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("gemma4"), std::string::npos) << v.message();
  EXPECT_TRUE(make_bpe_vocab(300, tokenizers::kGptOss).ok());
}

}  // namespace
}  // namespace apex::synth
