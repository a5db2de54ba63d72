// apex's gpt-oss forward pass against llama.cpp's on the same token ids: F32
// and F16 synthetic models with YaRN rope scaling, attention sinks, a sliding
// window of 48 on the even blocks (far below the 320-token prompt), biased
// attention, router and experts; evaluated in one batch, in batches of 100
// and token by token. Every logit must agree within 1e-3.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/forward.h"
#include "engine_test_support.h"
#include "oracle/oracle.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"

namespace apex::engine {
namespace {

using namespace apex::engine::testing;
using quant::TypeId;

constexpr int64_t kPromptTokens = 320;
constexpr double kTolerance = 1e-3;

// q width 4 x 48 = 192 != n_embd (as gpt-oss's 64 x 64 against 2880),
// 4 blocks (two sliding-window, two full), 4 experts of which 2 are used.
synth::Options gptoss_options(TypeId type) {
  synth::Options o = synth_options("gpt-oss", 4, type);
  o.n_layer = 4;
  o.n_embd = 128;
  o.head_dim = 48;
  o.n_ff = 96;
  o.n_vocab = 512;
  o.context_length = 1024;
  o.sliding_window = 48;
  o.yarn_factor = 32.0f;
  o.yarn_orig_context = 256;
  return o;
}

class ForwardGptOss : public ::testing::TestWithParam<TypeId> {};

TEST_P(ForwardGptOss, LogitsMatchOracleInAnyBatching) {
  TempDir dir;
  const std::string path = dir.file("oss.gguf");
  const synth::Options o = gptoss_options(GetParam());
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
    // Token by token only over the first 120 positions (past the window).
    const int64_t n = n_batch == 1 ? 120 : kPromptTokens;
    ASSERT_TRUE(ctx.eval(std::span(tokens.data(), static_cast<size_t>(n)), &logits, n_batch));
    const std::vector<float> want(ref.logits.begin(), ref.logits.begin() + n * ref.n_vocab);
    const LogitStats s = compare_logits(logits, want, ref.n_vocab);
    std::printf("  gpt-oss %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                GetParam() == TypeId::F32 ? "f32" : "f16", static_cast<long>(n_batch), s.max_abs,
                s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << "batch " << n_batch;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardGptOss, ::testing::Values(TypeId::F32, TypeId::F16),
                         [](const auto& info) { return info.param == TypeId::F32 ? "f32" : "f16"; });

// Without rope scaling the plain NEOX path is taken; it must agree too.
TEST(ForwardGptOssPlainRope, LogitsMatchOracle) {
  TempDir dir;
  const std::string path = dir.file("oss-plain.gguf");
  synth::Options o = gptoss_options(TypeId::F32);
  o.yarn_factor = 0.0f;
  o.n_layer = 2;
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  const auto tokens = test_tokens(96, o.n_vocab, 7);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  Context ctx(**model, 96);
  std::vector<float> logits;
  ASSERT_TRUE(ctx.eval(tokens, &logits, 96));
  EXPECT_LE(compare_logits(logits, ref.logits, ref.n_vocab).max_abs, kTolerance);
}

// Released gpt-oss files keep the experts in MXFP4 (MXFP4_MOE: MXFP4
// experts, Q8_0 elsewhere): the engine multiplies them (activations in Q8_0,
// as ggml pairs MXFP4) and agrees with llama.cpp on such a file.
TEST(ForwardGptOssMxfp4, Mxfp4ExpertsMatchOracle) {
  TempDir dir;
  const std::string f16 = dir.file("oss-f16.gguf"), mx = dir.file("oss-mxfp4.gguf");
  synth::Options o = gptoss_options(TypeId::F16);
  o.n_embd = 256, o.head_dim = 64, o.n_ff = 128, o.n_layer = 2;
  ASSERT_TRUE(synth::write_model(o, f16).ok());
  pipeline::QuantizeJob job;
  job.input = f16;
  job.output = mx;
  job.ftype = plan::find_ftype(plan::Ftype::MXFP4_MOE);
  job.threads = 2;
  auto report = pipeline::quantize_model(job);
  ASSERT_TRUE(report.ok()) << report.message();
  auto model = load_model(mx);
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->weights.layers[0].up_exps.type, TypeId::MXFP4);
  const auto tokens = test_tokens(96, o.n_vocab, 11);
  const oracle::LogitsResult ref = oracle::eval_logits(mx, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  for (int64_t n_batch : {int64_t{96}, int64_t{1}}) {
    Context ctx(**model, 96);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  gpt-oss MXFP4_MOE batch %ld: max abs %.3g\n", static_cast<long>(n_batch), s.max_abs);
    EXPECT_LE(s.max_abs, kTolerance) << n_batch;
  }
}

}  // namespace
}  // namespace apex::engine
