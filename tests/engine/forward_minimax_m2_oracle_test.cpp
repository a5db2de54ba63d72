// apex's minimax-m2 forward pass against llama.cpp's on the same token ids:
// F32 and F16 synthetic models, a 320-token prompt evaluated in one batch,
// in batches of 100 and token by token; every logit must agree within 1e-3.
// The model exercises what sets minimax-m2 apart: q/k norms over the whole
// projections, partial RoPE (8 of 32 dims), head_dim * n_head != n_embd, and
// a sigmoid router whose selection bias changes which experts are picked.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/forward.h"
#include "engine/moe.h"
#include "engine_test_support.h"
#include "oracle/oracle.h"
#include "synth/synth.h"

namespace apex::engine {
namespace {

using namespace apex::engine::testing;
using quant::TypeId;

constexpr int64_t kPromptTokens = 320;
constexpr double kTolerance = 1e-3;

synth::Options minimax_options(TypeId type) {
  synth::Options o = synth_options("minimax-m2", 8, type);
  o.n_layer = 3;
  o.n_embd = 128;
  o.n_head = 6;
  o.n_head_kv = 2;
  o.head_dim = 32;
  o.rope_dim = 8;
  o.n_ff = 64;
  o.n_vocab = 512;
  return o;
}

class ForwardMinimaxM2 : public ::testing::TestWithParam<TypeId> {};

TEST_P(ForwardMinimaxM2, LogitsMatchOracleInAnyBatching) {
  TempDir dir;
  const std::string path = dir.file("mm2.gguf");
  const synth::Options o = minimax_options(GetParam());
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->config.n_rot, 8);
  EXPECT_EQ((*model)->config.expert_gating, ExpertGating::kSigmoid);
  const auto tokens = test_tokens(kPromptTokens, o.n_vocab, 5);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, o.n_vocab);
  struct Run {
    int64_t n_batch, n_tokens;
  };
  // Token by token over the first 48 positions only: generation is the
  // same code path at every position and 320 single steps would be slow.
  for (const Run r : {Run{kPromptTokens, kPromptTokens}, Run{100, kPromptTokens}, Run{1, 48}}) {
    Context ctx(**model, kPromptTokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(std::span(tokens).first(static_cast<size_t>(r.n_tokens)), &logits, r.n_batch));
    const std::vector<float> want(ref.logits.begin(), ref.logits.begin() + r.n_tokens * ref.n_vocab);
    const LogitStats s = compare_logits(logits, want, ref.n_vocab);
    std::printf("  minimax-m2 %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                GetParam() == TypeId::F32 ? "f32" : "f16", static_cast<long>(r.n_batch), s.max_abs,
                s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << "batch " << r.n_batch;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardMinimaxM2, ::testing::Values(TypeId::F32, TypeId::F16),
                         [](const auto& info) { return info.param == TypeId::F32 ? "f32" : "f16"; });

// The selection bias must matter in this model, or the test above would not
// prove it is applied: for some token of the prompt, routing with and
// without it picks different experts.
TEST(ForwardMinimaxM2Routing, SelectionBiasChangesSomePicks) {
  const synth::Options o = minimax_options(TypeId::F32);
  std::vector<float> bias(static_cast<size_t>(o.n_expert));
  ASSERT_TRUE(synth::tensor_values(o, "blk.0.exp_probs_b.bias", 0, bias).ok());
  int changed = 0;
  for (uint32_t seed = 1; seed <= 64; ++seed) {
    std::vector<float> logits(static_cast<size_t>(o.n_expert));
    uint32_t s = seed * 2654435761u;
    for (float& v : logits) {
      s = s * 1664525u + 1013904223u;
      v = static_cast<float>((s >> 8) % 2001) / 1000.0f - 1.0f;  // router logits ~U(-1, 1)
    }
    const RouterRule rule{.gating = ExpertGating::kSigmoid, .n_expert = o.n_expert, .k = 2, .renormalise = true};
    const Routing with = route(rule, logits.data(), bias.data());
    const Routing without = route(rule, logits.data(), nullptr);
    changed += with.experts != without.experts;
    // Weights are the unbiased sigmoid probabilities, renormalised.
    EXPECT_NEAR(with.weights[0] + with.weights[1], 1.0f, 1e-6f);
  }
  EXPECT_GT(changed, 0);
}

}  // namespace
}  // namespace apex::engine
