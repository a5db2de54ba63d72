// apex's olmoe forward pass against llama.cpp's on the same token ids: F32
// and F16 synthetic models, a 320-token prompt evaluated in one batch, in
// batches of 100 and token by token; every logit must agree within 1e-3.
// olmoe shares minimax-m2's forward function (q/k norms over the whole
// projections); what differs is its router: softmax over all experts and
// the top-k weights used as they are, not renormalised.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/forward.h"
#include "engine_test_support.h"
#include "oracle/oracle.h"
#include "synth/synth.h"

namespace apex::engine {
namespace {

using namespace apex::engine::testing;
using quant::TypeId;

constexpr int64_t kPromptTokens = 320;
constexpr double kTolerance = 1e-3;

synth::Options olmoe_options(TypeId type) {
  synth::Options o = synth_options("olmoe", 8, type);
  o.n_layer = 3;
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 4;
  o.n_ff = 64;
  o.n_vocab = 512;
  return o;
}

class ForwardOlmoe : public ::testing::TestWithParam<TypeId> {};

TEST_P(ForwardOlmoe, LogitsMatchOracleInAnyBatching) {
  TempDir dir;
  const std::string path = dir.file("olmoe.gguf");
  const synth::Options o = olmoe_options(GetParam());
  ASSERT_TRUE(synth::write_model(o, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  EXPECT_FALSE((*model)->config.arch->norm_topk_weights);
  const auto tokens = test_tokens(kPromptTokens, o.n_vocab, 6);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, o.n_vocab);
  struct Run {
    int64_t n_batch, n_tokens;
  };
  // Token by token over the first 48 positions only (the same code path at
  // every position; 320 single steps would be slow).
  for (const Run r : {Run{kPromptTokens, kPromptTokens}, Run{100, kPromptTokens}, Run{1, 48}}) {
    Context ctx(**model, kPromptTokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(std::span(tokens).first(static_cast<size_t>(r.n_tokens)), &logits, r.n_batch));
    const std::vector<float> want(ref.logits.begin(), ref.logits.begin() + r.n_tokens * ref.n_vocab);
    const LogitStats s = compare_logits(logits, want, ref.n_vocab);
    std::printf("  olmoe %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                GetParam() == TypeId::F32 ? "f32" : "f16", static_cast<long>(r.n_batch), s.max_abs,
                s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << "batch " << r.n_batch;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardOlmoe, ::testing::Values(TypeId::F32, TypeId::F16),
                         [](const auto& info) { return info.param == TypeId::F32 ? "f32" : "f16"; });

}  // namespace
}  // namespace apex::engine
