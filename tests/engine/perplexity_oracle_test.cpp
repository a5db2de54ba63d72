// apex perplexity equals the figure computed here from llama.cpp's logits
// with llama-perplexity's chunking (BOS at each chunk start, second half
// scored) within 0.1%.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/forward.h"
#include "engine_test_support.h"
#include "eval/perplexity.h"
#include "oracle/oracle.h"

namespace apex::eval {
namespace {

using namespace apex::engine::testing;

std::string read_text(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str().substr(0, max_bytes);
}

TEST(Perplexity, TinyMoeMatchesOracleFigure) {
  const std::string path = tiny_model_path();
  const std::string text_path = std::string(APEX_SHARED_DIR) + "/models/tiny-moe-eval.txt";
  if (!fs::exists(path) || !fs::exists(text_path)) GTEST_SKIP() << "no tiny model";
  const std::string text = read_text(text_path, 8000);
  std::vector<int32_t> tokens;
  ASSERT_TRUE(oracle::tokenize(path, text, true, false, tokens));
  PerplexityOptions opts;
  opts.n_ctx = 128;
  opts.n_chunks = 4;
  opts.n_batch = 64;

  auto model = engine::load_model(path);
  ASSERT_TRUE(model) << model.message();
  auto ours = perplexity(**model, tokens, opts);
  ASSERT_TRUE(ours) << ours.message();
  ASSERT_EQ(ours->n_chunks, 4);
  EXPECT_EQ(ours->n_scored, 4 * (128 - 64 - 1));

  // The oracle's figure, written out independently of eval::perplexity.
  const int32_t bos = 1;  // tiny-moe: <s>, add_bos true
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  for (int c = 0; c < 4; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * 128, tokens.begin() + (c + 1) * 128);
    chunk[0] = bos;
    const oracle::LogitsResult ref = oracle::eval_logits(path, chunk, 2, 128);
    ASSERT_TRUE(ref.ok) << ref.error;
    for (int i = 64; i < 127; ++i) {
      const float* row = &ref.logits[static_cast<size_t>(i) * ref.n_vocab];
      const auto ls = log_softmax(row, ref.n_vocab);
      const double v = -ls[chunk[i + 1]];
      nll += v;
      nll2 += v * v;
      ++count;
    }
  }
  const double mean = nll / count;
  const double ppl = std::exp(mean);
  const double err = std::sqrt((nll2 / count - mean * mean) / (count - 1)) * ppl;
  std::printf("  apex PPL %.4f +/- %.4f, oracle-derived %.4f +/- %.4f\n", ours->ppl, ours->ppl_stderr,
              ppl, err);
  EXPECT_NEAR(ours->ppl, ppl, 1e-3 * ppl);
  EXPECT_NEAR(ours->ppl_stderr, err, 1e-2 * err);
  ASSERT_EQ(ours->running_ppl.size(), 4u);
  EXPECT_DOUBLE_EQ(ours->running_ppl.back(), ours->ppl);

  // The text path tokenizes with apex's own tokenizer to the same ids.
  auto from_text = perplexity_text(**model, text, opts);
  ASSERT_TRUE(from_text) << from_text.message();
  EXPECT_DOUBLE_EQ(from_text->ppl, ours->ppl);
}

TEST(Perplexity, ShortInputIsAnError) {
  TempDir dir;
  const std::string path = dir.file("m.gguf");
  ASSERT_TRUE(synth::write_model(synth_options("llama", 0, quant::TypeId::F32), path));
  auto model = engine::load_model(path);
  ASSERT_TRUE(model) << model.message();
  PerplexityOptions opts;
  opts.n_ctx = 64;
  const std::vector<int32_t> tokens(100, 5);
  auto r = perplexity(**model, tokens, opts);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("need at least 128"), std::string::npos) << r.message();
  EXPECT_FALSE(read_token_file(dir.file("missing.txt")));
}

}  // namespace
}  // namespace apex::eval
