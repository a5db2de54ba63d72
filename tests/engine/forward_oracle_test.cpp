// apex's forward pass against llama.cpp's on the same token ids: with F32
// and F16 weights every logit agrees within 1e-3, for each supported
// architecture (synthetic models) and for the trained tiny-moe model, in
// several batch sizes (1 = token-by-token generation through the KV cache).
// In practice they are bit-identical (max abs 0) against the pinned plain
// x86-64 CPU variant; APEX_DBG_POS=1 prints the per-position error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "engine/forward.h"
#include "engine_test_support.h"
#include "oracle/oracle.h"

namespace apex::engine {
namespace {

using namespace apex::engine::testing;
using quant::TypeId;

constexpr int64_t kTokens = 80;

struct FloatCase {
  std::string label;
  std::string arch;
  int n_expert;
  TypeId type;
};

std::string case_name(const ::testing::TestParamInfo<FloatCase>& info) { return info.param.label; }

class ForwardFloatTest : public ::testing::TestWithParam<FloatCase> {};

void check_against_oracle(const std::string& path, int64_t n_tokens, double tolerance) {
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  const auto tokens = test_tokens(n_tokens, (*model)->config.n_vocab);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, (*model)->config.n_vocab);
  for (int64_t n_batch : {int64_t{1}, int64_t{7}, n_tokens}) {
    Context ctx(**model, n_tokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                path.substr(path.rfind('/') + 1).c_str(), static_cast<long>(n_batch), s.max_abs,
                s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, tolerance) << "batch " << n_batch;
    if (std::getenv("APEX_DBG_POS") != nullptr && n_batch == 1) {
      for (int64_t p = 0; p < static_cast<int64_t>(tokens.size()); ++p) {
        double m = 0, mx = 0;
        for (int64_t i = 0; i < ref.n_vocab; ++i) {
          m = std::max(m, double(std::fabs(logits[p * ref.n_vocab + i] - ref.logits[p * ref.n_vocab + i])));
          mx = std::max(mx, double(std::fabs(ref.logits[p * ref.n_vocab + i])));
        }
        std::printf("    pos %ld: max abs %.3g (max |logit| %.3g)\n", long(p), m, mx);
      }
    }
  }
}

TEST_P(ForwardFloatTest, LogitsMatchOracle) {
  const FloatCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.file(c.label + ".gguf");
  ASSERT_TRUE(synth::write_model(synth_options(c.arch, c.n_expert, c.type), path));
  check_against_oracle(path, kTokens, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Synth, ForwardFloatTest,
    ::testing::Values(FloatCase{"qwen2moe_f32", "qwen2moe", 8, TypeId::F32},
                      FloatCase{"qwen2moe_f16", "qwen2moe", 8, TypeId::F16},
                      FloatCase{"qwen3moe_f32", "qwen3moe", 8, TypeId::F32},
                      FloatCase{"qwen3moe_f16", "qwen3moe", 8, TypeId::F16},
                      FloatCase{"llama_dense_f32", "llama", 0, TypeId::F32},
                      FloatCase{"llama_dense_f16", "llama", 0, TypeId::F16},
                      FloatCase{"mixtral_f32", "llama", 8, TypeId::F32},
                      FloatCase{"mixtral_f16", "llama", 8, TypeId::F16}),
    case_name);

TEST(ForwardTinyMoe, LogitsMatchOracle) {
  const std::string path = tiny_model_path();
  if (!fs::exists(path)) GTEST_SKIP() << "no " << path;
  check_against_oracle(path, 96, 1e-3);
}

TEST(ForwardErrors, BadInputIsAnError) {
  EXPECT_FALSE(load_model("/nonexistent.gguf"));
  TempDir dir;
  const std::string path = dir.file("m.gguf");
  ASSERT_TRUE(synth::write_model(synth_options("llama", 0, TypeId::F32), path));
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  Context ctx(**model, 8);
  std::vector<float> logits;
  const std::vector<int32_t> bad = {1, 5000};
  Status s = ctx.eval(bad, &logits);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("5000"), std::string::npos);
  const std::vector<int32_t> long_seq(9, 1);
  EXPECT_FALSE(ctx.eval(long_seq, &logits));
}

}  // namespace
}  // namespace apex::engine
