// apex's nemotron_h_moe forward pass (Mamba-2 / attention / MoE hybrid)
// against llama.cpp's on the same token ids: F32 and F16 synthetic models, a
// 320-token prompt (the Mamba-2 state carried across hundreds of tokens and
// across batch boundaries), evaluated in one batch, in uneven batches and
// token by token for a short part (generation). Every logit must agree
// within 1e-3.
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

// Tiny dims: Mamba-2, MoE and attention blocks in Nemotron's rhythm, two
// groups of two Mamba heads, a shared expert of its own width, scaled and
// renormalised expert weights.
synth::Options nemotron_options(TypeId type) {
  synth::Options o = synth_options("nemotron_h_moe", 8, type);
  o.n_layer = 5;
  o.layer_pattern = "ME*EM";
  o.n_embd = 128;
  o.head_dim = 32;
  o.n_ff = 64;
  o.n_ff_shared = 96;
  o.n_vocab = 512;
  o.ssm_d_state = 16;
  o.ssm_n_group = 2;
  o.ssm_dt_rank = 4;
  o.ssm_d_inner = 128;
  o.expert_weights_scale = 2.5f;
  o.context_length = 512;
  return o;
}

class ForwardNemotronH : public ::testing::TestWithParam<TypeId> {};

TEST_P(ForwardNemotronH, LogitsMatchOracleInAnyBatching) {
  TempDir dir;
  const std::string path = dir.file("nemo.gguf");
  const synth::Options o = nemotron_options(GetParam());
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  const auto tokens = test_tokens(kPromptTokens, o.n_vocab, 5);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, o.n_vocab);
  for (int64_t n_batch : {kPromptTokens, int64_t{100}}) {
    Context ctx(**model, kPromptTokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  nemotron_h_moe %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                GetParam() == TypeId::F32 ? "f32" : "f16", static_cast<long>(n_batch), s.max_abs,
                s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << "batch " << n_batch;
  }
  // Generation: the first 280 tokens as a prompt, the last 40 one at a time.
  Context ctx(**model, kPromptTokens);
  std::vector<float> head, step, all;
  const std::span<const int32_t> span(tokens);
  ASSERT_TRUE(ctx.eval(span.first(280), &head, 280));
  all = head;
  for (int64_t i = 280; i < kPromptTokens; ++i) {
    ASSERT_TRUE(ctx.eval(span.subspan(static_cast<size_t>(i), 1), &step, 1));
    all.insert(all.end(), step.begin(), step.end());
  }
  const LogitStats s = compare_logits(all, ref.logits, ref.n_vocab);
  std::printf("  nemotron_h_moe %s 280 + 40 x 1: max abs %.3g\n",
              GetParam() == TypeId::F32 ? "f32" : "f16", s.max_abs);
  EXPECT_LE(s.max_abs, kTolerance) << "token by token";
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardNemotronH, ::testing::Values(TypeId::F32, TypeId::F16),
                         [](const auto& info) { return info.param == TypeId::F32 ? "f32" : "f16"; });

}  // namespace
}  // namespace apex::engine
