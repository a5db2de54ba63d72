// The tiny model's SentencePiece-style vocabulary ("llama" tokenizer model):
// ids identical to llama_tokenize on the evaluation texts and a stress text.
#include <gtest/gtest.h>

#include "tokenizer_test_support.h"

namespace apex::tok {
namespace {

using testing::expect_same_tokens;
using testing::read_text;
using testing::shared_path;

const std::string kTiny = shared_path("models/tiny-moe-f16.gguf");

class TinySpm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto t = Tokenizer::open(kTiny);
    ASSERT_TRUE(t.ok()) << t.message();
    tok_ = new Tokenizer(std::move(*t));
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  static Tokenizer* tok_;
};
Tokenizer* TinySpm::tok_ = nullptr;

TEST_F(TinySpm, VocabularyFacts) {
  const Vocab& v = tok_->vocab();
  EXPECT_EQ(v.type, VocabType::kSpm);
  EXPECT_EQ(v.n_tokens(), 4096);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
}

TEST_F(TinySpm, WikiTestRawMatchesOracle) {
  const std::string text = read_text(shared_path("data/wikitext-2-raw/wiki.test.raw"));
  ASSERT_GT(text.size(), 1000000u);
  expect_same_tokens(*tok_, kTiny, text, true, false, "wiki.test.raw");
}

TEST_F(TinySpm, ModelTextsMatchOracle) {
  for (const char* name : {"models/tiny-moe-eval.txt", "models/tiny-moe-calib.txt"}) {
    const std::string text = read_text(shared_path(name));
    ASSERT_FALSE(text.empty()) << name;
    expect_same_tokens(*tok_, kTiny, text, true, false, name);
    expect_same_tokens(*tok_, kTiny, text, false, true, name);
  }
}

TEST_F(TinySpm, StressTextMatchesOracle) {
  const std::string text = testing::stress_text() + " <s>x</s> <unk> a<s></s>b <0x41> ▁▁ ";
  for (const bool add : {false, true}) {
    for (const bool parse : {false, true}) expect_same_tokens(*tok_, kTiny, text, add, parse, "stress");
  }
  for (const char* small : {"", " ", "  ", "\n", "a", " a", "<s>", " <s> ", "<s><s>", "\xff", "\xe2\x96\x81"}) {
    for (const bool add : {false, true}) {
      for (const bool parse : {false, true}) expect_same_tokens(*tok_, kTiny, small, add, parse, "small");
    }
  }
}

TEST_F(TinySpm, DetokenizeRoundTrip) {
  const std::string text = read_text(shared_path("models/tiny-moe-eval.txt")).substr(0, 20000);
  // Without BOS the first piece's word-start space is dropped again (with a
  // BOS in front, llama_detokenize keeps it, and so do we).
  const auto ids = tok_->tokenize(text, false, false);
  EXPECT_TRUE(tok_->detokenize(ids) == text);
  const auto with_bos = tok_->tokenize(text, true, false);
  EXPECT_TRUE(tok_->detokenize(with_bos, true, false) == " " + text);
  EXPECT_EQ(tok_->token_to_piece(1, true), "<s>");
  EXPECT_EQ(tok_->token_to_piece(1, false), "");
  EXPECT_EQ(tok_->token_to_piece(3 + 'A', true), "A");  // <0x41>
}

}  // namespace
}  // namespace apex::tok
