// Quantized models: apex's logits against llama.cpp's on the same file.
// Activations are quantized to Q8_0 / Q8_K as ggml's CPU backend does before
// its dot products, so the two engines see the same numbers; the bar
// is argmax agreement >= 99.9% and mean per-position KL < 1e-4.
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
using quant::TypeId;

// Quantizes `src` with an ftype (Q8_0 = 7, Q4_K_M = 15) or, when profile is
// non-empty, with an APEX tier.
void quantize(const std::string& src, const std::string& dst, int32_t ftype,
              const std::string& profile = "") {
  pipeline::QuantizeJob job;
  job.input = src;
  job.output = dst;
  job.threads = 2;
  if (profile.empty()) {
    job.ftype = plan::find_ftype(ftype);
    ASSERT_NE(job.ftype, nullptr);
  } else {
    auto p = plan::builtin_profile(profile);
    ASSERT_TRUE(p) << p.message();
    auto planned = pipeline::apply_profile(job, *p);
    ASSERT_TRUE(planned) << planned.message();
  }
  auto r = pipeline::quantize_model(job);
  ASSERT_TRUE(r) << r.message();
}

LogitStats compare_with_oracle(const std::string& path, int64_t n_tokens, int64_t n_batch) {
  auto model = load_model(path);
  EXPECT_TRUE(model) << model.message();
  if (!model) return {};
  const auto tokens = test_tokens(n_tokens, (*model)->config.n_vocab, 7);
  const oracle::LogitsResult ref = oracle::eval_logits(path, tokens, 2);
  EXPECT_TRUE(ref.ok) << ref.error;
  Context ctx(**model, n_tokens);
  std::vector<float> logits;
  EXPECT_TRUE(ctx.eval(tokens, &logits, n_batch));
  const LogitStats s = compare_logits(logits, ref.logits, ref.n_vocab);
  std::printf("  %s (batch %ld): max abs %.3g, argmax %.4f, mean KL %.3g, max KL %.3g\n",
              path.substr(path.rfind('/') + 1).c_str(), long(n_batch), s.max_abs, s.argmax_agree,
              s.mean_kl, s.max_kl);
  return s;
}

void expect_close(const LogitStats& s) {
  EXPECT_GE(s.argmax_agree, 0.999);
  EXPECT_LT(s.mean_kl, 1e-4);
}

struct QuantCase {
  std::string label;
  int32_t ftype;
  std::string profile;
};

class ForwardQuantizedTiny : public ::testing::TestWithParam<QuantCase> {};

TEST_P(ForwardQuantizedTiny, AgreesWithOracle) {
  const std::string src = tiny_model_path();
  if (!fs::exists(src)) GTEST_SKIP() << "no " << src;
  TempDir dir;
  const std::string path = dir.file("tiny-" + GetParam().label + ".gguf");
  quantize(src, path, GetParam().ftype, GetParam().profile);
  expect_close(compare_with_oracle(path, 128, 128));
  expect_close(compare_with_oracle(path, 64, 1));
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardQuantizedTiny,
                         ::testing::Values(QuantCase{"Q8_0", 7, ""}, QuantCase{"Q4_K_M", 15, ""},
                                           QuantCase{"apex_balanced", 0, "balanced"}),
                         [](const auto& info) { return info.param.label; });

struct SynthQuantCase {
  std::string label;
  std::string arch;
  int n_expert;
  int32_t ftype;
};

class ForwardQuantizedSynth : public ::testing::TestWithParam<SynthQuantCase> {};

TEST_P(ForwardQuantizedSynth, AgreesWithOracle) {
  const SynthQuantCase& c = GetParam();
  TempDir dir;
  const std::string src = dir.file("src.gguf"), path = dir.file(c.label + ".gguf");
  ASSERT_TRUE(synth::write_model(synth_options(c.arch, c.n_expert, TypeId::F16), src));
  quantize(src, path, c.ftype);
  expect_close(compare_with_oracle(path, 96, 96));
}

INSTANTIATE_TEST_SUITE_P(
    Archs, ForwardQuantizedSynth,
    ::testing::Values(SynthQuantCase{"qwen2moe_Q4_K_M", "qwen2moe", 8, 15},
                      SynthQuantCase{"qwen3moe_Q4_K_M", "qwen3moe", 8, 15},
                      SynthQuantCase{"qwen3moe_Q8_0", "qwen3moe", 8, 7},
                      SynthQuantCase{"llama_dense_Q4_K_M", "llama", 0, 15},
                      SynthQuantCase{"mixtral_Q8_0", "llama", 8, 7}),
    [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace apex::engine
