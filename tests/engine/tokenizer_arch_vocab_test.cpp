// `apex synth --arch A` writes A's real tokenizer kind (byte-level BPE with
// A's pre-tokenizer, or gemma4's own BPE) and our tokenizer reads it exactly
// as llama.cpp does: per architecture, the tokenizer keys equal what the
// family's converter writes (stated below from convert_hf_to_gguf.py /
// conversion/*.py, not from synth's tables), llama.cpp loads the vocabulary,
// its merges build multi-byte tokens from English text, and our ids equal
// llama_tokenize's on a stress text with the family's special tokens and on
// a slice of wiki.test.raw.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer_test_support.h"

namespace apex::tok {
namespace {

using testing::expect_same_tokens;
using testing::read_text;
using testing::shared_path;

struct ArchVocab {
  const char* label;
  const char* synth_flags;
  const char* model;  // tokenizer.ggml.model the converter writes
  const char* pre;    // tokenizer.ggml.pre ("" when it writes none)
  bool add_bos;       // whether the family's tokenizer puts BOS in front
};

// model / pre: Qwen3.5 "qwen35", gpt-oss (o200k) "gpt-4o", DeepSeek-V3
// "deepseek-v3", GLM-4.5 "glm4", Nemotron-3 Nano (its files carry Mistral
// Nemo's tekken split) "pixtral", MiniMax-M2 "minimax-m2", OLMoE "olmo";
// Gemma 4's converter writes model "gemma4" and no pre.
const ArchVocab kArchs[] = {
    {"qwen35moe", "--arch qwen35moe --layers 4 --embd 64 --heads 2 --kv-heads 1 --head-dim 32 "
                  "--experts 2 --ff 32 --ff-shared 32 --ssm-state 16",
     "gpt2", "qwen35", false},
    {"nemotron_h_moe", "--arch nemotron_h_moe --layers 2 --layer-pattern 'ME' --embd 64 --heads 2 "
                       "--kv-heads 1 --head-dim 32 --experts 2 --ff 32 --ff-shared 32 --ssm-state 16 "
                       "--ssm-inner 64",
     "gpt2", "pixtral", true},
    {"glm4moe", "--arch glm4moe --layers 2 --embd 64 --heads 2 --kv-heads 1 --head-dim 32 --experts 2 "
                "--ff 32 --dense-lead 1 --ff-dense 64 --shared-experts 1",
     "gpt2", "glm4", false},
    {"deepseek2", "--arch deepseek2 --layers 2 --embd 64 --heads 2 --head-dim 48 --rope-dim 16 "
                  "--q-lora-rank 32 --kv-lora-rank 32 --experts 4 --experts-used 2 --ff 32 --dense-lead 1",
     "gpt2", "deepseek-v3", true},
    {"gpt_oss", "--arch gpt-oss --layers 2 --embd 64 --heads 2 --kv-heads 1 --head-dim 32 --experts 2 "
                "--ff 32 --sliding-window 16",
     "gpt2", "gpt-4o", false},
    {"minimax_m2", "--arch minimax-m2 --layers 1 --embd 64 --heads 2 --kv-heads 1 --head-dim 32 "
                   "--rope-dim 16 --experts 2 --ff 32",
     "gpt2", "minimax-m2", false},
    {"olmoe", "--arch olmoe --layers 1 --embd 64 --heads 2 --kv-heads 2 --experts 2 --ff 32", "gpt2", "olmo",
     false},
    {"gemma4", "--arch gemma4 --layers 2 --full-attn-interval 2 --embd 64 --heads 2 --kv-heads 1 "
               "--swa-kv-heads 1 --head-dim 32 --swa-head-dim 32 --experts 2 --ff 32 --ff-dense 64 "
               "--sliding-window 16",
     "gemma4", "", true},
};

struct Fixture {
  std::string path;
  std::unique_ptr<Tokenizer> tok;
};

struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    std::error_code ec;
    for (const auto& p : paths) std::filesystem::remove(p, ec);
  }
};

// One model per architecture, written once per test binary.
const Fixture& fixture(const ArchVocab& a) {
  static std::map<std::string, Fixture> cache;
  static TempFiles temp_files;
  auto it = cache.find(a.label);
  if (it != cache.end()) return it->second;
  Fixture f;
  f.path = (std::filesystem::temp_directory_path() /
            ("apex-archvocab-" + std::string(a.label) + "-" + std::to_string(getpid()) + ".gguf"))
               .string();
  temp_files.paths.push_back(f.path);
  const std::string cmd = std::string(APEX_BINARY) + " synth " + a.synth_flags +
                          " --vocab 1536 --ctx 256 --type f32 --no-progress " + f.path + " > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << cmd;
    return cache[a.label];
  }
  auto t = Tokenizer::open(f.path);
  if (!t.ok()) {
    ADD_FAILURE() << t.message();
    return cache[a.label];
  }
  f.tok = std::make_unique<Tokenizer>(std::move(*t));
  return cache[a.label] = std::move(f);
}

class ArchVocabTest : public ::testing::TestWithParam<ArchVocab> {};

TEST_P(ArchVocabTest, ConverterKeys) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  auto file = gguf::File::open(f.path);
  ASSERT_TRUE(file.ok()) << file.message();
  std::string model, pre;
  EXPECT_TRUE((*file)->get_string("tokenizer.ggml.model", model));
  EXPECT_EQ(model, GetParam().model);
  const bool has_pre = (*file)->get_string("tokenizer.ggml.pre", pre);
  EXPECT_EQ(has_pre, GetParam().pre[0] != '\0');
  EXPECT_EQ(pre, GetParam().pre);
  EXPECT_NE((*file)->find("tokenizer.ggml.merges"), nullptr);
  // Byte-level vocabularies have no scores; gemma4's converter writes them.
  EXPECT_EQ((*file)->find("tokenizer.ggml.scores") != nullptr, model == "gemma4");
}

TEST_P(ArchVocabTest, OracleAddsBosAsTheFamilyDoes) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  std::vector<int32_t> ids;
  ASSERT_TRUE(oracle::tokenize(f.path, "", true, false, ids)) << "llama.cpp does not load " << f.path;
  EXPECT_EQ(!ids.empty(), GetParam().add_bos);
}

TEST_P(ArchVocabTest, MergesBuildMultiByteTokens) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  const std::string text = "The number of people who live in the city has been growing every year since then.";
  std::vector<int32_t> ids;
  ASSERT_TRUE(oracle::tokenize(f.path, text, false, false, ids));
  EXPECT_LT(ids.size() * 3, text.size()) << ids.size() << " tokens";
}

TEST_P(ArchVocabTest, StressTextMatchesOracle) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  std::string text = testing::stress_text();
  const Vocab& v = f.tok->vocab();
  ASSERT_FALSE(v.special_tokens.empty());
  for (const int32_t id : v.special_tokens) {
    text += " x" + v.tokens[id] + "y " + v.tokens[id] + v.tokens[id] + "\n";
  }
  text += "\n\n\n  \n \n\n\t\n";  // newline runs (gemma4 takes those that are tokens whole)
  expect_same_tokens(*f.tok, f.path, text, true, false, "stress");
  expect_same_tokens(*f.tok, f.path, text, false, true, "stress");
  expect_same_tokens(*f.tok, f.path, "", true, true, "empty");
  expect_same_tokens(*f.tok, f.path, "  a", true, false, "small");
}

TEST_P(ArchVocabTest, WikiTestRawMatchesOracle) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  std::string text = read_text(shared_path("data/wikitext-2-raw/wiki.test.raw"));
  text.resize(std::min<size_t>(text.size(), 48 * 1024));
  expect_same_tokens(*f.tok, f.path, text, true, false, "wiki.test.raw");
}

TEST_P(ArchVocabTest, DetokenizeRoundTrip) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.tok);
  const std::string text = "Hello world!\n\tCJK 我想在apple工作 emoji 🚀🦙 digits 1234567\n  code: x->y[3] >>= 2;";
  EXPECT_EQ(f.tok->detokenize(f.tok->tokenize(text, false, false)), text);
}

INSTANTIATE_TEST_SUITE_P(Archs, ArchVocabTest, ::testing::ValuesIn(kArchs),
                         [](const ::testing::TestParamInfo<ArchVocab>& info) {
                           return std::string(info.param.label);
                         });

}  // namespace
}  // namespace apex::tok
