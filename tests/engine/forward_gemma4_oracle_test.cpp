// apex's gemma4 forward pass against llama.cpp's on the same token ids: F32
// and F16 synthetic models shaped like Gemma 4 26B-A4B (sliding-window
// blocks with a 64-position window between global blocks with wider heads,
// proportional RoPE and V = K, a dense FFN beside fused experts, logit
// soft-capping), a 320-token prompt (the window slides over most of it),
// evaluated in one batch, in batches of 100 and token by token. Every logit
// must agree within 1e-3. Variants: separate gate/up experts with attn_v
// and no per-expert scale, and a dense Gemma 4 without soft-capping.
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

synth::Options gemma4_options(TypeId type) {
  synth::Options o = synth_options("gemma4", 8, type);
  o.n_layer = 4;
  o.full_attention_interval = 2;  // blocks 1 and 3 global
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 1;
  o.n_head_kv_swa = 2;
  o.head_dim = 64;
  o.head_dim_swa = 32;
  o.n_ff = 48;
  o.n_ff_dense = 96;
  o.n_vocab = 512;
  o.sliding_window = 64;
  o.rope_freq_base = 1e6f;
  o.context_length = 512;
  return o;
}

struct Case {
  std::string label;
  synth::Options opts;
};

std::vector<Case> cases() {
  std::vector<Case> v = {{"f32", gemma4_options(TypeId::F32)}, {"f16", gemma4_options(TypeId::F16)}};
  synth::Options o = gemma4_options(TypeId::F16);
  o.fused_gate_up = false, o.k_eq_v = false, o.expert_down_scale = false;
  v.push_back({"f16_separate_gate_up_with_v", o});
  o = gemma4_options(TypeId::F32);
  o.n_expert = 0, o.n_expert_used = 0, o.final_logit_softcapping = 0;
  v.push_back({"f32_dense", o});
  return v;
}

class ForwardGemma4 : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardGemma4, LogitsMatchOracleInAnyBatching) {
  const Case& c = GetParam();
  TempDir dir;
  const std::string path = dir.file("g4.gguf");
  ASSERT_TRUE(synth::write_model(c.opts, path).ok());
  auto model = load_model(path);
  ASSERT_TRUE(model) << model.message();
  const auto tokens = test_tokens(kPromptTokens, c.opts.n_vocab, 5);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  ASSERT_EQ(ref.n_vocab, c.opts.n_vocab);
  for (int64_t n_batch : {kPromptTokens, int64_t{100}, int64_t{1}}) {
    Context ctx(**model, kPromptTokens);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  gemma4 %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n", c.label.c_str(),
                static_cast<long>(n_batch), s.max_abs, s.argmax_agree, s.mean_kl);
    EXPECT_LE(s.max_abs, kTolerance) << "batch " << n_batch;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ForwardGemma4, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace apex::engine
