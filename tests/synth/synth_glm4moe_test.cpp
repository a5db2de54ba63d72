// glm4moe (GLM-4.5/4.6/4.7 MoE) synthetic models: the layout follows
// llama.cpp's glm4moe loader (checked against an independent statement of
// it written here), the oracle loads and runs them, and the bytes do not
// depend on the generator's thread count.
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

Options glm(TypeId type) {
  Options o;
  o.arch = "glm4moe";
  o.n_layer = 4;
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.head_dim = 48;  // q width 192 != n_embd, as GLM-4.5 (96 heads of 128 over 4096)
  o.n_expert = 8;
  o.n_expert_used = 2;
  o.n_ff = 64;
  o.n_ff_dense = 160;
  o.n_vocab = 600;
  o.n_dense_lead = 1;
  o.expert_weights_scale = 2.5f;  // GLM's routed_scaling_factor
  o.weight_type = type;
  o.context_length = 512;
  o.seed = 5;
  return o;
}

// What llama.cpp's glm4moe loader creates for block il (written out from
// its load_arch_tensors, not derived from synth's table).
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o, int il) {
  const int64_t E = o.n_embd, hd = o.head_dim, q = hd * o.n_head, kv = hd * o.n_head_kv;
  std::map<std::string, std::vector<int64_t>> m = {
      {"attn_norm.weight", {E}},          {"attn_q.weight", {E, q}},
      {"attn_k.weight", {E, kv}},         {"attn_v.weight", {E, kv}},
      {"attn_q.bias", {q}},               {"attn_k.bias", {kv}},
      {"attn_v.bias", {kv}},              {"attn_output.weight", {q, E}},
      {"post_attention_norm.weight", {E}},
  };
  if (o.qk_norm) {
    m["attn_q_norm.weight"] = {hd};
    m["attn_k_norm.weight"] = {hd};
  }
  if (il < o.n_dense_lead) {
    m["ffn_gate.weight"] = {E, o.n_ff_dense};
    m["ffn_up.weight"] = {E, o.n_ff_dense};
    m["ffn_down.weight"] = {o.n_ff_dense, E};
  } else {
    const int64_t sh = o.n_ff * o.n_expert_shared;
    m["ffn_gate_inp.weight"] = {E, o.n_expert};
    m["exp_probs_b.bias"] = {o.n_expert};
    m["ffn_gate_exps.weight"] = {E, o.n_ff, o.n_expert};
    m["ffn_up_exps.weight"] = {E, o.n_ff, o.n_expert};
    m["ffn_down_exps.weight"] = {o.n_ff, E, o.n_expert};
    m["ffn_gate_shexp.weight"] = {E, sh};
    m["ffn_up_shexp.weight"] = {E, sh};
    m["ffn_down_shexp.weight"] = {sh, E};
  }
  if (il >= o.n_layer) {
    m["nextn.eh_proj.weight"] = {2 * E, E};
    m["nextn.enorm.weight"] = {E};
    m["nextn.hnorm.weight"] = {E};
    m["nextn.shared_head_norm.weight"] = {E};
  }
  return m;
}

void expect_layout(const Options& o) {
  auto layout = make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  std::map<std::string, const gguf::TensorInfo*> by_name;
  for (const gguf::TensorInfo& t : layout->tensors) by_name[t.name] = &t;
  size_t expected = 3;  // token_embd, output_norm, output
  for (int il = 0; il < o.n_layer + o.n_mtp; ++il) {
    for (const auto& [suffix, ne] : expected_block(o, il)) {
      const std::string name = "blk." + std::to_string(il) + "." + suffix;
      ASSERT_TRUE(by_name.count(name)) << name;
      EXPECT_EQ(by_name[name]->ne, ne) << name;
      // The converter keeps 1-D tensors and the router F32.
      const bool f32 = ne.size() == 1 || suffix == "ffn_gate_inp.weight";
      EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : o.weight_type)) << name;
      ++expected;
    }
  }
  EXPECT_EQ(layout->tensors.size(), expected);
  auto u32 = [&](const std::string& k) -> int64_t {
    const gguf::KeyValue* kv = layout->find("glm4moe." + k);
    if (kv == nullptr) return -1;
    if (const uint32_t* u = kv->value.get_if<uint32_t>()) return *u;
    return -2;
  };
  EXPECT_EQ(u32("block_count"), o.n_layer + o.n_mtp);
  EXPECT_EQ(u32("leading_dense_block_count"), o.n_dense_lead);
  EXPECT_EQ(u32("feed_forward_length"), o.n_ff_dense);
  EXPECT_EQ(u32("expert_feed_forward_length"), o.n_ff);
  EXPECT_EQ(u32("expert_shared_count"), o.n_expert_shared);
  EXPECT_EQ(u32("expert_count"), o.n_expert);
  EXPECT_EQ(u32("expert_gating_func"), 2);  // sigmoid
  EXPECT_EQ(u32("rope.dimension_count"), o.head_dim / 2);  // partial_rotary_factor 0.5
  EXPECT_EQ(u32("attention.key_length"), o.head_dim);
  EXPECT_EQ(u32("nextn_predict_layers"), o.n_mtp > 0 ? o.n_mtp : -1);
  // Keys the converter does not write for this architecture.
  EXPECT_EQ(layout->find("glm4moe.expert_shared_feed_forward_length"), nullptr);
  const gguf::KeyValue* scale = layout->find("glm4moe.expert_weights_scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(*scale->value.get_if<float>(), o.expert_weights_scale);
  const gguf::KeyValue* norm = layout->find("glm4moe.expert_weights_norm");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(*norm->value.get_if<bool>(), o.expert_weights_norm);
}

TEST(SynthGlm4Moe, LayoutIsLlamaCppsGlm4Moe) {
  expect_layout(glm(TypeId::F16));
  Options o = glm(TypeId::F32);
  o.qk_norm = false, o.n_dense_lead = 2, o.n_expert_shared = 2, o.n_mtp = 1;
  expect_layout(o);
}

struct GlmCase {
  std::string label;
  Options opts;
};

std::vector<GlmCase> glm_cases() {
  std::vector<GlmCase> cases = {{"f32", glm(TypeId::F32)}, {"f16", glm(TypeId::F16)}};
  // GLM-4.5-Air's shape: no q/k norms; two shared experts, two dense blocks,
  // no top-k renormalisation, scale 1, odd row widths.
  Options o = glm(TypeId::F16);
  o.qk_norm = false, o.n_dense_lead = 2, o.n_expert_shared = 2, o.n_embd = 96, o.n_ff = 40;
  o.expert_weights_norm = false, o.expert_weights_scale = 1.0f;
  cases.push_back({"air_like", o});
  // The MTP block the converter appends (block 4 of 5).
  o = glm(TypeId::BF16);
  o.n_mtp = 1;
  cases.push_back({"with_mtp_block", o});
  return cases;
}

class SynthGlm4MoeOracle : public ::testing::TestWithParam<GlmCase> {};

TEST_P(SynthGlm4MoeOracle, LoadsAndRunsInLlamaCpp) {
  const GlmCase& c = GetParam();
  expect_runs_in_llama_cpp(c.opts, c.label);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthGlm4MoeOracle, ::testing::ValuesIn(glm_cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthGlm4Moe, SameBytesWhateverTheThreadCount) {
  Options o = glm(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.n_layer = 2, o.n_mtp = 1;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthGlm4Moe, BadOptionsAreErrorsNamingTheOption) {
  auto expect_error = [](const Options& o, const char* what) {
    Status s = validate(o);
    ASSERT_FALSE(s.ok()) << what;
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  };
  Options o = glm(TypeId::F16);
  o.n_dense_lead = 5;
  expect_error(o, "n_dense_lead");
  o = glm(TypeId::F16);
  o.n_expert_shared = 0;
  expect_error(o, "n_expert_shared");
  o = glm(TypeId::F16);
  o.n_mtp = 2;
  expect_error(o, "n_mtp");
  o = glm(TypeId::F16);
  o.rope_dim = 50;
  expect_error(o, "rope_dim");
  o = glm(TypeId::F16);
  o.n_expert = 0;
  expect_error(o, "n_expert");
}

}  // namespace
}  // namespace apex::synth
