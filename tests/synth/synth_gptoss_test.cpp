// gpt-oss synthetic models: the layout follows llama.cpp's gpt-oss loader
// (checked against an independent statement of it written here), the
// metadata carries the sliding window and YaRN keys the converter writes,
// the oracle loads and runs the files, and the bytes do not depend on the
// generator's thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>

#include "oracle/oracle.h"
#include "synth/synth.h"
#include "synth_test_support.h"

namespace apex::synth {
namespace {

using quant::TypeId;
using testing::expect_runs_in_llama_cpp;
using testing::expect_same_bytes_whatever_threads;

Options oss(TypeId type) {
  Options o;
  o.arch = "gpt-oss";
  o.n_layer = 4;
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.head_dim = 48;  // q width 192 != n_embd, as gpt-oss (64 x 64 vs 2880)
  o.n_expert = 4;
  o.n_expert_used = 2;
  o.n_ff = 96;
  o.n_vocab = 600;
  o.weight_type = type;
  o.context_length = 1024;
  o.sliding_window = 16;
  o.yarn_factor = 8.0f;
  o.yarn_orig_context = 128;
  o.seed = 5;
  return o;
}

// llama.cpp's llama_model_openai_moe::load_arch_tensors for block il,
// written out by hand (not derived from synth's table).
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o) {
  const int64_t E = o.n_embd, q = o.head_dim * o.n_head, kv = o.head_dim * o.n_head_kv;
  const int64_t F = o.n_ff, X = o.n_expert;
  return {
      {"attn_norm.weight", {E}},
      {"post_attention_norm.weight", {E}},
      {"attn_q.weight", {E, q}},
      {"attn_k.weight", {E, kv}},
      {"attn_v.weight", {E, kv}},
      {"attn_q.bias", {q}},
      {"attn_k.bias", {kv}},
      {"attn_v.bias", {kv}},
      {"attn_output.weight", {q, E}},
      {"attn_output.bias", {E}},
      {"attn_sinks.weight", {o.n_head}},
      {"ffn_gate_inp.weight", {E, X}},
      {"ffn_gate_inp.bias", {X}},
      {"ffn_gate_exps.weight", {E, F, X}},
      {"ffn_up_exps.weight", {E, F, X}},
      {"ffn_down_exps.weight", {F, E, X}},
      {"ffn_gate_exps.bias", {F, X}},
      {"ffn_up_exps.bias", {F, X}},
      {"ffn_down_exps.bias", {E, X}},
  };
}

TEST(SynthGptOss, LayoutIsLlamaCppsGptOss) {
  const Options o = oss(TypeId::F16);
  auto layout = make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  std::map<std::string, const gguf::TensorInfo*> by_name;
  for (const gguf::TensorInfo& t : layout->tensors) by_name[t.name] = &t;
  size_t expected_count = 3;  // token_embd, output_norm, output
  for (int il = 0; il < o.n_layer; ++il) {
    for (const auto& [suffix, ne] : expected_block(o)) {
      const std::string name = "blk." + std::to_string(il) + "." + suffix;
      ASSERT_TRUE(by_name.count(name)) << name;
      EXPECT_EQ(by_name[name]->ne, ne) << name;
      // The converter writes F32 for 1-D tensors, names not ending in
      // ".weight" (every bias) and the router.
      const bool f32 = ne.size() == 1 || suffix.ends_with(".bias") || suffix == "ffn_gate_inp.weight";
      EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : TypeId::F16)) << name;
      ++expected_count;
    }
  }
  EXPECT_EQ(layout->tensors.size(), expected_count);
  EXPECT_EQ(by_name["token_embd.weight"]->ne, (std::vector<int64_t>{o.n_embd, o.n_vocab}));
  EXPECT_EQ(by_name["output.weight"]->ne, (std::vector<int64_t>{o.n_embd, o.n_vocab}));
  auto u32 = [&](const std::string& k) -> int64_t {
    const gguf::KeyValue* kv = layout->find(k);
    if (kv == nullptr) return -1;
    if (const uint32_t* u = kv->value.get_if<uint32_t>()) return *u;
    return -2;
  };
  auto f32 = [&](const std::string& k) -> double {
    const gguf::KeyValue* kv = layout->find(k);
    if (kv == nullptr) return -1;
    if (const float* f = kv->value.get_if<float>()) return *f;
    return -2;
  };
  EXPECT_EQ(u32("gpt-oss.attention.sliding_window"), 16);
  EXPECT_EQ(u32("gpt-oss.attention.key_length"), 48);
  EXPECT_EQ(u32("gpt-oss.attention.value_length"), 48);
  EXPECT_EQ(u32("gpt-oss.expert_feed_forward_length"), 96);
  EXPECT_EQ(u32("gpt-oss.expert_count"), 4);
  EXPECT_EQ(u32("gpt-oss.expert_used_count"), 2);
  EXPECT_EQ(u32("gpt-oss.rope.scaling.original_context_length"), 128);
  EXPECT_EQ(f32("gpt-oss.rope.scaling.factor"), 8.0);
  EXPECT_EQ(f32("gpt-oss.rope.scaling.yarn_beta_fast"), 32.0);
  EXPECT_EQ(f32("gpt-oss.rope.scaling.yarn_beta_slow"), 1.0);
  const gguf::KeyValue* type = layout->find("gpt-oss.rope.scaling.type");
  ASSERT_NE(type, nullptr);
  ASSERT_NE(type->value.get_if<std::string>(), nullptr);
  EXPECT_EQ(*type->value.get_if<std::string>(), "yarn");
  // Without a factor no scaling keys are written.
  Options plain = oss(TypeId::F16);
  plain.yarn_factor = 0.0f;
  auto plain_layout = make_layout(plain);
  ASSERT_TRUE(plain_layout.ok());
  EXPECT_EQ(plain_layout->find("gpt-oss.rope.scaling.type"), nullptr);
}

struct OssCase {
  std::string label;
  Options opts;
};

std::vector<OssCase> oss_cases() {
  std::vector<OssCase> cases = {{"f32_yarn", oss(TypeId::F32)}, {"f16_yarn", oss(TypeId::F16)}};
  Options o = oss(TypeId::F16);
  o.yarn_factor = 0.0f, o.n_layer = 3, o.head_dim = 0, o.n_head_kv = 4, o.n_ff = 40;
  cases.push_back({"f16_no_scaling_mha", o});
  return cases;
}

class SynthGptOssOracle : public ::testing::TestWithParam<OssCase> {};

TEST_P(SynthGptOssOracle, LoadsAndRunsInLlamaCpp) {
  const OssCase& c = GetParam();
  // The prompt is longer than the sliding window, so both layer kinds matter.
  expect_runs_in_llama_cpp(c.opts, c.label);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthGptOssOracle, ::testing::ValuesIn(oss_cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthGptOss, SameBytesWhateverTheThreadCount) {
  Options o = oss(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.n_expert = 8;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthGptOss, BadOptionsNameTheOption) {
  Options o = oss(TypeId::F16);
  o.sliding_window = 0;
  Status s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("sliding_window"), std::string::npos) << s.message();
  o = oss(TypeId::F16);
  o.yarn_factor = -1.0f;
  s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("yarn_factor"), std::string::npos) << s.message();
  o = oss(TypeId::F16);
  o.n_expert = 0;
  EXPECT_FALSE(validate(o).ok());
}

}  // namespace
}  // namespace apex::synth
