// gemma4 (Gemma 4, shaped like the 26B-A4B MoE) synthetic models: the
// layout follows llama.cpp's loader for the architecture (checked here
// against an independent statement of it), the oracle loads and runs them,
// and the bytes do not depend on the generator's thread count.
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

// The 26B-A4B's proportions, scaled down: global blocks have twice the head
// width and a quarter of the KV heads of the sliding ones.
Options g4(TypeId type) {
  Options o;
  o.arch = "gemma4";
  o.n_layer = 6;
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 1;
  o.n_head_kv_swa = 2;
  o.head_dim = 64;
  o.head_dim_swa = 32;
  o.n_expert = 8;
  o.n_expert_used = 2;
  o.n_ff = 48;
  o.n_ff_dense = 96;
  o.n_vocab = 600;
  o.full_attention_interval = 3;
  o.sliding_window = 64;
  o.rope_freq_base = 1e6f;
  o.weight_type = type;
  o.context_length = 512;
  o.seed = 5;
  return o;
}

// What llama.cpp's gemma4 loader creates for block il (written out from
// its load_arch_tensors, not from synth's table).
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o, int il) {
  const bool global = (il + 1) % o.full_attention_interval == 0;
  const int64_t E = o.n_embd, hd = global ? o.head_dim : o.head_dim_swa;
  const int64_t kvh = global ? o.n_head_kv : o.n_head_kv_swa;
  std::map<std::string, std::vector<int64_t>> m = {
      {"attn_norm.weight", {E}},
      {"attn_q.weight", {E, hd * o.n_head}},
      {"attn_k.weight", {E, hd * kvh}},
      {"attn_output.weight", {hd * o.n_head, E}},
      {"attn_q_norm.weight", {hd}},
      {"attn_k_norm.weight", {hd}},
      {"post_attention_norm.weight", {E}},
      {"layer_output_scale.weight", {1}},
      {"ffn_norm.weight", {E}},
      {"ffn_gate.weight", {E, o.n_ff_dense}},
      {"ffn_up.weight", {E, o.n_ff_dense}},
      {"ffn_down.weight", {o.n_ff_dense, E}},
      {"post_ffw_norm.weight", {E}},
      {"ffn_gate_inp.weight", {E, o.n_expert}},
      {"ffn_gate_inp.scale", {E}},
      {"pre_ffw_norm_2.weight", {E}},
      {"post_ffw_norm_1.weight", {E}},
      {"post_ffw_norm_2.weight", {E}},
      {"ffn_down_exps.weight", {o.n_ff, E, o.n_expert}},
      {"ffn_down_exps.scale", {o.n_expert}},
  };
  // attention_k_eq_v: global blocks take V from the K projection.
  if (!global || !o.k_eq_v) m["attn_v.weight"] = {E, hd * kvh};
  if (o.fused_gate_up) {
    m["ffn_gate_up_exps.weight"] = {E, 2 * o.n_ff, o.n_expert};
  } else {
    m["ffn_gate_exps.weight"] = {E, o.n_ff, o.n_expert};
    m["ffn_up_exps.weight"] = {E, o.n_ff, o.n_expert};
  }
  return m;
}

void expect_layout(const Options& o) {
  auto layout = make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  std::map<std::string, const gguf::TensorInfo*> by_name;
  for (const gguf::TensorInfo& t : layout->tensors) by_name[t.name] = &t;
  // token_embd (tied output), output_norm, rope_freqs (one, shared by the
  // global blocks) and the blocks' tensors; nothing else.
  size_t expected_count = 3;
  ASSERT_TRUE(by_name.count("rope_freqs.weight"));
  EXPECT_EQ(by_name["rope_freqs.weight"]->ne, (std::vector<int64_t>{o.head_dim / 2}));
  EXPECT_FALSE(by_name.count("output.weight"));
  for (int il = 0; il < o.n_layer; ++il) {
    for (const auto& [suffix, ne] : expected_block(o, il)) {
      const std::string name = "blk." + std::to_string(il) + "." + suffix;
      ASSERT_TRUE(by_name.count(name)) << name;
      EXPECT_EQ(by_name[name]->ne, ne) << name;
      const bool f32 = ne.size() == 1 || suffix.find("gate_inp") != std::string::npos;
      EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : o.weight_type)) << name;
      ++expected_count;
    }
  }
  EXPECT_EQ(layout->tensors.size(), expected_count);
}

TEST(SynthGemma4, LayoutIsLlamaCppsGemma4) {
  expect_layout(g4(TypeId::F16));
  Options o = g4(TypeId::F16);
  o.fused_gate_up = false, o.k_eq_v = false;
  expect_layout(o);
}

TEST(SynthGemma4, KeysFollowTheConverter) {
  auto layout = make_layout(g4(TypeId::F16));
  ASSERT_TRUE(layout.ok()) << layout.message();
  auto u32 = [&](const std::string& k) -> int64_t {
    const gguf::KeyValue* kv = layout->find(k);
    if (kv == nullptr) return -1;
    if (const uint32_t* u = kv->value.get_if<uint32_t>()) return *u;
    return -2;
  };
  EXPECT_EQ(u32("gemma4.feed_forward_length"), 96);
  EXPECT_EQ(u32("gemma4.expert_feed_forward_length"), 48);
  EXPECT_EQ(u32("gemma4.attention.key_length"), 64);
  EXPECT_EQ(u32("gemma4.attention.key_length_swa"), 32);
  EXPECT_EQ(u32("gemma4.attention.value_length_swa"), 32);
  EXPECT_EQ(u32("gemma4.rope.dimension_count"), 64);
  EXPECT_EQ(u32("gemma4.rope.dimension_count_swa"), 32);
  EXPECT_EQ(u32("gemma4.attention.sliding_window"), 64);
  EXPECT_EQ(u32("gemma4.attention.shared_kv_layers"), 0);
  EXPECT_EQ(u32("gemma4.embedding_length_per_layer_input"), 0);
  const gguf::KeyValue* pattern = layout->find("gemma4.attention.sliding_window_pattern");
  ASSERT_NE(pattern, nullptr);
  const auto* arr = pattern->value.get_if<gguf::Array>();
  ASSERT_NE(arr, nullptr);
  ASSERT_EQ(arr->elems.size(), 6u);
  for (int il = 0; il < 6; ++il) EXPECT_EQ(*arr->elems[il].get_if<bool>(), (il + 1) % 3 != 0) << il;
  const gguf::KeyValue* kv = layout->find("gemma4.attention.head_count_kv");
  ASSERT_NE(kv, nullptr);
  const auto* kv_arr = kv->value.get_if<gguf::Array>();
  ASSERT_NE(kv_arr, nullptr);
  int64_t heads = 0;
  ASSERT_TRUE(kv_arr->elems[2].as_int(heads));
  EXPECT_EQ(heads, 1);
  ASSERT_TRUE(kv_arr->elems[0].as_int(heads));
  EXPECT_EQ(heads, 2);
  ASSERT_NE(layout->find("gemma4.final_logit_softcapping"), nullptr);
  ASSERT_NE(layout->find("gemma4.rope.freq_base_swa"), nullptr);
}

TEST(SynthGemma4, RopeFreqsStopTheUnrotatedPairs) {
  const Options o = g4(TypeId::F32);  // rope_dim 0: head_dim / 4 = 16 rotated dims, 8 pairs
  std::vector<float> f(static_cast<size_t>(o.head_dim / 2));
  ASSERT_TRUE(tensor_values(o, "rope_freqs.weight", 0, f).ok());
  for (size_t i = 0; i < f.size(); ++i) EXPECT_EQ(f[i], i < 8 ? 1.0f : 1e30f) << i;
}

struct G4Case {
  std::string label;
  Options opts;
};

std::vector<G4Case> g4_cases() {
  // (F32 runs against the oracle in the engine's logits test.)
  std::vector<G4Case> cases = {{"f16", g4(TypeId::F16)}};
  Options o = g4(TypeId::F16);
  o.fused_gate_up = false, o.k_eq_v = false, o.expert_down_scale = false;
  cases.push_back({"separate_gate_up_with_v", o});
  o = g4(TypeId::F16);
  o.n_expert = 0, o.final_logit_softcapping = 0;  // a dense Gemma 4 (the 31B's shape)
  cases.push_back({"dense", o});
  o = g4(TypeId::F16);
  o.n_embd_per_layer = 16;  // E2B/E4B-style per-layer embeddings
  cases.push_back({"per_layer_embeddings", o});
  return cases;
}

class SynthGemma4Oracle : public ::testing::TestWithParam<G4Case> {};

TEST_P(SynthGemma4Oracle, LoadsAndRunsInLlamaCpp) {
  const G4Case& c = GetParam();
  std::vector<float> logits;
  ASSERT_NO_FATAL_FAILURE(expect_runs_in_llama_cpp(c.opts, c.label, 30.0, &logits));
  if (c.opts.final_logit_softcapping > 0) {
    for (float v : logits) ASSERT_LE(std::fabs(v), c.opts.final_logit_softcapping);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthGemma4Oracle, ::testing::ValuesIn(g4_cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthGemma4, SameBytesWhateverTheThreadCount) {
  Options o = g4(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.n_layer = 3;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthGemma4, BadOptionsAreErrors) {
  Options o = g4(TypeId::F16);
  o.full_attention_interval = 7;  // no global block in 6
  Status s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("full_attention_interval"), std::string::npos) << s.message();
  o = g4(TypeId::F16);
  o.n_head_kv_swa = 3;
  s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("n_head_kv_swa"), std::string::npos) << s.message();
  o = g4(TypeId::F16);
  o.head_dim_swa = 31;
  EXPECT_FALSE(validate(o).ok());
}

}  // namespace
}  // namespace apex::synth
