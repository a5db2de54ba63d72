// minimax-m2 (MiniMax-M2) synthetic models: the layout follows llama.cpp's
// loader for the architecture (checked against an independent statement of
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

// head_dim * n_head (192) differs from n_embd (128), as in MiniMax-M2
// (48 heads of 128 over a 3072-wide stream).
Options mm2(TypeId type) {
  Options o;
  o.arch = "minimax-m2";
  o.n_layer = 3;
  o.n_embd = 128;
  o.n_head = 6;
  o.n_head_kv = 2;
  o.head_dim = 32;
  o.n_expert = 8;
  o.n_expert_used = 2;
  o.n_ff = 64;
  o.n_vocab = 600;
  o.weight_type = type;
  o.context_length = 512;
  o.seed = 13;
  return o;
}

// What llama.cpp's minimax-m2 loader creates for every block (written out
// from its load_arch_tensors, not derived from synth's table): the q/k norm
// gains are as wide as the whole projections.
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o) {
  const int64_t E = o.n_embd, q = o.head_dim * o.n_head, kv = o.head_dim * o.n_head_kv;
  const int64_t X = o.n_expert, F = o.n_ff;
  return {
      {"attn_norm.weight", {E}},          {"attn_q.weight", {E, q}},
      {"attn_k.weight", {E, kv}},         {"attn_v.weight", {E, kv}},
      {"attn_output.weight", {q, E}},     {"attn_q_norm.weight", {q}},
      {"attn_k_norm.weight", {kv}},       {"ffn_norm.weight", {E}},
      {"ffn_gate_inp.weight", {E, X}},    {"ffn_gate_exps.weight", {E, F, X}},
      {"ffn_up_exps.weight", {E, F, X}},  {"ffn_down_exps.weight", {F, E, X}},
      {"exp_probs_b.bias", {X}},
  };
}

int64_t u32(const gguf::Layout& l, const std::string& k) {
  const gguf::KeyValue* kv = l.find(k);
  if (kv == nullptr) return -1;
  if (const uint32_t* u = kv->value.get_if<uint32_t>()) return *u;
  return -2;
}

TEST(SynthMinimaxM2, LayoutIsLlamaCppsMinimaxM2) {
  const Options o = mm2(TypeId::F16);
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
      // The converter keeps 1-D tensors and the router F32.
      const bool f32 = ne.size() == 1 || suffix == "ffn_gate_inp.weight";
      EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : TypeId::F16)) << name;
      ++expected_count;
    }
  }
  EXPECT_EQ(layout->tensors.size(), expected_count);
  EXPECT_EQ(u32(*layout, "minimax-m2.rope.dimension_count"), 16);  // half of head_dim
  EXPECT_EQ(u32(*layout, "minimax-m2.attention.key_length"), 32);
  EXPECT_EQ(u32(*layout, "minimax-m2.attention.value_length"), 32);
  EXPECT_EQ(u32(*layout, "minimax-m2.expert_feed_forward_length"), 64);
  EXPECT_EQ(u32(*layout, "minimax-m2.expert_gating_func"), 2);  // sigmoid
  EXPECT_EQ(u32(*layout, "minimax-m2.expert_count"), 8);
}

struct Case {
  std::string label;
  Options opts;
};

std::vector<Case> cases() {
  std::vector<Case> v = {{"f32", mm2(TypeId::F32)}, {"f16", mm2(TypeId::F16)}};
  // A wider rotation, grouped 4:1 heads, rows that are not multiples of 32.
  Options o = mm2(TypeId::F16);
  o.rope_dim = 24, o.n_head = 8, o.n_embd = 96, o.n_ff = 40;
  v.push_back({"rope24_gqa4", o});
  return v;
}

class SynthMinimaxM2Oracle : public ::testing::TestWithParam<Case> {};

TEST_P(SynthMinimaxM2Oracle, LoadsAndRunsInLlamaCpp) {
  const Case& c = GetParam();
  expect_runs_in_llama_cpp(c.opts, c.label);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthMinimaxM2Oracle, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthMinimaxM2, SameBytesWhateverTheThreadCount) {
  Options o = mm2(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.n_layer = 2;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthMinimaxM2, BadRopeDimIsAnError) {
  Options o = mm2(TypeId::F16);
  o.rope_dim = 33;
  Status s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rope_dim"), std::string::npos) << s.message();
  o.rope_dim = 64;  // wider than the 32-wide heads
  EXPECT_FALSE(validate(o).ok());
}

}  // namespace
}  // namespace apex::synth
