// apex's glm4moe forward pass (GLM-4.5/4.6/4.7 MoE) against llama.cpp's on
// the same token ids: F32 and F16 synthetic models, a 320-token prompt,
// evaluated in one batch, in uneven batches and token by token. Every logit
// must agree within 1e-3. Variants cover GLM-4.5-Air's shape (no q/k norms,
// no renormalisation) and the converter's MTP block (loaded, not run).
#include <gtest/gtest.h>

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

// 4 blocks (block 0 dense), 8 experts of which 2 per token, q width 192 over
// n_embd 128 (as GLM's 96 heads of 128 over 4096), half of each head rotated.
synth::Options glm_options(TypeId type) {
  synth::Options o = synth_options("glm4moe", 8, type);
  o.n_layer = 4;
  o.n_embd = 128;
  o.head_dim = 48;
  o.n_ff = 64;
  o.n_ff_dense = 160;
  o.n_vocab = 512;
  o.context_length = 512;
  o.expert_weights_scale = 2.5f;  // GLM's routed_scaling_factor
  return o;
}

void expect_matches_oracle(const synth::Options& o, const char* label,
                           std::initializer_list<int64_t> batches, int64_t n_tokens) {
  TempDir dir;
  const std::string path = dir.file("glm.gguf");
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->config.n_layer, o.n_layer);  // MTP blocks not in the trunk
  const auto tokens = test_tokens(n_tokens, o.n_vocab, 5);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, o.n_vocab);
  for (int64_t n_batch : batches) {
    Context ctx(**model, n_tokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  glm4moe %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n", label,
                static_cast<long>(n_batch), s.max_abs, s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << label << " batch " << n_batch;
  }
}

class ForwardGlm4Moe : public ::testing::TestWithParam<TypeId> {};

TEST_P(ForwardGlm4Moe, LogitsMatchOracleInAnyBatching) {
  expect_matches_oracle(glm_options(GetParam()), GetParam() == TypeId::F32 ? "f32" : "f16",
                        {kPromptTokens, int64_t{100}, int64_t{1}}, kPromptTokens);
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardGlm4Moe, ::testing::Values(TypeId::F32, TypeId::F16),
                         [](const auto& info) { return info.param == TypeId::F32 ? "f32" : "f16"; });

// GLM-4.5-Air's shape: no q/k norms, two dense blocks, two shared experts,
// top-k weights not renormalised, scale 1, a quarter of each head rotated.
TEST(ForwardGlm4MoeVariants, AirShapeMatchesOracle) {
  synth::Options o = glm_options(TypeId::F16);
  o.qk_norm = false, o.n_dense_lead = 2, o.n_expert_shared = 2, o.rope_dim = 12;
  o.expert_weights_norm = false, o.expert_weights_scale = 1.0f;
  expect_matches_oracle(o, "air", {int64_t{96}, int64_t{7}}, 96);
}

// With the MTP block the converter appends, the trunk's logits still equal
// llama.cpp's (which loads the block but runs only the trunk).
TEST(ForwardGlm4MoeVariants, MtpBlockIsLoadedNotRun) {
  synth::Options o = glm_options(TypeId::F32);
  o.n_mtp = 1;
  expect_matches_oracle(o, "mtp", {int64_t{64}, int64_t{1}}, 64);
}

}  // namespace
}  // namespace apex::engine
