// apex's qwen35moe forward pass (Gated DeltaNet hybrid) against llama.cpp's
// on the same token ids: F32 and F16 synthetic models, a 320-token prompt
// (the recurrent state carried across hundreds of tokens and across batch
// boundaries), evaluated in one batch, in uneven batches and token by token
// (generation). Every logit must agree within 1e-3.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "engine/forward.h"
#include "engine_test_support.h"
#include "oracle/oracle.h"

namespace apex::engine {
namespace {

using namespace apex::engine::testing;
using quant::TypeId;

constexpr int64_t kPromptTokens = 320;
constexpr double kTolerance = 1e-3;

// Tiny dims: 4 blocks (three Gated DeltaNet, one full attention), two key
// heads shared by four value heads, a shared expert of its own width.
synth::Options qwen35_options(TypeId type) {
  synth::Options o = synth_options("qwen35moe", 4, type);
  o.n_layer = 4;
  o.n_embd = 128;
  o.head_dim = 32;
  o.n_ff = 64;
  o.n_ff_shared = 96;
  o.n_vocab = 512;
  o.ssm_d_state = 16;
  o.ssm_n_group = 2;
  o.ssm_dt_rank = 4;
  o.context_length = 512;
  return o;
}

class ForwardQwen35 : public ::testing::TestWithParam<TypeId> {};

TEST_P(ForwardQwen35, LogitsMatchOracleInAnyBatching) {
  TempDir dir;
  const std::string path = dir.file("q35.gguf");
  const synth::Options o = qwen35_options(GetParam());
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  const auto tokens = test_tokens(kPromptTokens, o.n_vocab, 5);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, o.n_vocab);
  for (int64_t n_batch : {kPromptTokens, int64_t{100}, int64_t{1}}) {
    Context ctx(**model, kPromptTokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  qwen35moe %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                GetParam() == TypeId::F32 ? "f32" : "f16", static_cast<long>(n_batch), s.max_abs,
                s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << "batch " << n_batch;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardQwen35, ::testing::Values(TypeId::F32, TypeId::F16),
                         [](const auto& info) { return info.param == TypeId::F32 ? "f32" : "f16"; });

// With the multi-token-prediction block the converter appends, the main
// model's logits are unchanged and still equal llama.cpp's (which loads the
// block but runs only the trunk).
TEST(ForwardQwen35Mtp, TrunkLogitsMatchOracle) {
  TempDir dir;
  const std::string path = dir.file("q35mtp.gguf");
  synth::Options o = qwen35_options(TypeId::F32);
  o.n_mtp = 1;
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->config.n_layer, 4);
  const auto tokens = test_tokens(64, o.n_vocab, 7);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  for (int64_t n_batch : {int64_t{64}, int64_t{1}}) {
    Context ctx(**model, 64);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    EXPECT_LE(compare_logits(logits, ref.logits, ref.n_vocab).max_abs, kTolerance) << n_batch;
  }
}

// reset() forgets the recurrent state: the same prompt after a reset gives
// the same logits as in a fresh context.
TEST(ForwardQwen35State, ResetStartsAFreshSequence) {
  TempDir dir;
  const std::string path = dir.file("q35r.gguf");
  const synth::Options o = qwen35_options(TypeId::F32);
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  const auto a = test_tokens(24, o.n_vocab, 9), b = test_tokens(16, o.n_vocab, 10);
  Context fresh(**model, 64);
  std::vector<float> want;
  ASSERT_TRUE(fresh.eval(b, &want, 8));
  Context reused(**model, 64);
  std::vector<float> ignored, got;
  ASSERT_TRUE(reused.eval(a, &ignored, 8));
  reused.reset();
  ASSERT_TRUE(reused.eval(b, &got, 8));
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace apex::engine
