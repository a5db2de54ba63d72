// apex's deepseek2 forward pass (multi-head latent attention) against
// llama.cpp's on the same token ids: F32 and F16 synthetic models shaped
// like DeepSeek-V3 (low-rank q, latent KV, a dense leading block, sigmoid
// routing with exp_probs_b and expert groups, shared experts), a 320-token
// prompt evaluated in one batch, in uneven batches and token by token; also
// the DeepSeek-V2-Lite shape (plain attn_q, softmax routing) and YaRN
// scaling. Every logit must agree within 1e-3.
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

synth::Options deepseek2_options(TypeId type) {
  synth::Options o = synth_options("deepseek2", 8, type);
  o.n_layer = 3;
  o.n_embd = 128;
  o.n_head = 4;
  o.head_dim = 48;  // qk_nope 32 + qk_rope 16
  o.rope_dim = 16;
  o.v_head_dim = 40;
  o.q_lora_rank = 64;
  o.kv_lora_rank = 32;
  o.n_expert_used = 3;
  o.n_ff = 64;
  o.n_ff_dense = 160;
  o.n_dense_lead = 1;
  o.n_expert_shared = 2;
  o.n_expert_groups = 4;
  o.n_group_used = 2;
  o.expert_weights_scale = 2.5f;  // DeepSeek-V3's routed_scaling_factor
  o.n_vocab = 512;
  return o;
}

void expect_matches_oracle(const synth::Options& o, const std::string& label,
                           std::initializer_list<int64_t> batches) {
  TempDir dir;
  const std::string path = dir.file("ds2.gguf");
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  const auto tokens = test_tokens(kPromptTokens, o.n_vocab, 5);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, o.n_vocab);
  for (int64_t n_batch : batches) {
    Context ctx(**model, kPromptTokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  deepseek2 %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                label.c_str(), static_cast<long>(n_batch), s.max_abs, s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << label << " batch " << n_batch;
  }
}

class ForwardDeepseek2 : public ::testing::TestWithParam<TypeId> {};

TEST_P(ForwardDeepseek2, LogitsMatchOracleInAnyBatching) {
  expect_matches_oracle(deepseek2_options(GetParam()), GetParam() == TypeId::F32 ? "f32" : "f16",
                        {kPromptTokens, 100, 1});
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardDeepseek2, ::testing::Values(TypeId::F32, TypeId::F16),
                         [](const auto& info) { return info.param == TypeId::F32 ? "f32" : "f16"; });

// DeepSeek-V2-Lite's shape: one attn_q, softmax routing without selection
// bias or groups, weights neither renormalised nor scaled, no dense block.
TEST(ForwardDeepseek2Variants, LiteSoftmaxMatchesOracle) {
  synth::Options o = deepseek2_options(TypeId::F16);
  o.q_lora_rank = 0, o.expert_gating_func = 1, o.n_expert_groups = 0, o.n_group_used = 0;
  o.n_dense_lead = 0, o.n_expert_shared = 1, o.expert_weights_scale = 0.0f;
  o.expert_weights_norm = false;
  expect_matches_oracle(o, "lite", {kPromptTokens, 1});
}

// YaRN as DeepSeek-V3 ships it (factor 40, mscale_all_dim 1) over an
// original context shorter than the prompt, so the ramp and both
// magnitude corrections matter.
TEST(ForwardDeepseek2Variants, YarnMatchesOracle) {
  synth::Options o = deepseek2_options(TypeId::F32);
  o.yarn_factor = 40.0f, o.yarn_orig_context = 128, o.yarn_mscale_all_dim = 1.0f;
  expect_matches_oracle(o, "yarn", {kPromptTokens, 37});
}

}  // namespace
}  // namespace apex::engine
