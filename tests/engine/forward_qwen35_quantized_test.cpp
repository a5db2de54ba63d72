// qwen35moe quantized by apex (Q8_0, Q4_K_M, the APEX balanced tier: K-quant
// linear-attention projections, F32 ssm_conv1d and router) runs in apex with
// the oracle's logits, token by token and in one batch.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/forward.h"
#include "engine_test_support.h"
#include "oracle/oracle.h"
#include "pipeline/apex_quantize.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"
#include "plan/profile.h"

namespace apex::engine {
namespace {

using namespace apex::engine::testing;

struct Q35QuantCase {
  std::string label;
  int32_t ftype;        // llama_ftype when profile is empty
  std::string profile;  // an APEX tier
};

class ForwardQwen35Quantized : public ::testing::TestWithParam<Q35QuantCase> {};

TEST_P(ForwardQwen35Quantized, LogitsMatchOracle) {
  TempDir dir;
  const std::string src = dir.file("q35-f16.gguf"), dst = dir.file("q35-" + GetParam().label + ".gguf");
  // Rows of 256 so that the K-quant types apply (no fallbacks).
  synth::Options o = synth_options("qwen35moe", 4, quant::TypeId::F16);
  o.n_layer = 4;
  o.head_dim = 64;
  o.n_ff_shared = 256;
  o.ssm_d_state = 64;
  ASSERT_TRUE(synth::write_model(o, src).ok());
  pipeline::QuantizeJob job;
  job.input = src;
  job.output = dst;
  job.threads = 2;
  if (GetParam().profile.empty()) {
    job.ftype = plan::find_ftype(GetParam().ftype);
    ASSERT_NE(job.ftype, nullptr);
  } else {
    auto p = plan::builtin_profile(GetParam().profile);
    ASSERT_TRUE(p) << p.message();
    auto planned = pipeline::apply_profile(job, *p);
    ASSERT_TRUE(planned) << planned.message();
  }
  auto r = pipeline::quantize_model(job);
  ASSERT_TRUE(r) << r.message();

  auto model = load_model(dst);
  ASSERT_TRUE(model) << model.message();
  const auto tokens = test_tokens(96, o.n_vocab, 3);
  const oracle::LogitsResult ref = oracle::eval_logits(dst, tokens, 2);
  ASSERT_TRUE(ref.ok) << ref.error;
  for (int64_t n_batch : {int64_t{96}, int64_t{1}}) {
    Context ctx(**model, 96);
    std::vector<float> logits;
    ASSERT_TRUE(ctx.eval(tokens, &logits, n_batch));
    const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
    std::printf("  qwen35moe %s batch %ld: max abs %.3g, argmax %.4f, mean KL %.3g\n",
                GetParam().label.c_str(), static_cast<long>(n_batch), s.max_abs, s.argmax_agree,
                s.mean_kl);
    EXPECT_LE(s.max_abs, 1e-3) << "batch " << n_batch;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardQwen35Quantized,
                         ::testing::Values(Q35QuantCase{"Q8_0", 7, ""}, Q35QuantCase{"Q4_K_M", 15, ""},
                                           Q35QuantCase{"apex_balanced", 0, "balanced"}),
                         [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace apex::engine
