// olmoe (OLMoE) synthetic models: the layout follows llama.cpp's loader for
// the architecture (checked against an independent statement of it written
// here), the oracle loads and runs them, and the bytes do not depend on the
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

Options olmoe(TypeId type) {
  Options o;
  o.arch = "olmoe";
  o.n_layer = 3;
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 4;
  o.n_expert = 8;
  o.n_expert_used = 2;
  o.n_ff = 64;
  o.n_vocab = 600;
  o.weight_type = type;
  o.context_length = 512;
  o.seed = 17;
  return o;
}

// What llama.cpp's olmoe loader creates for every block (written out from
// its load_arch_tensors, not derived from synth's table): q/k norm gains
// and the attention projections are all n_embd wide.
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o) {
  const int64_t E = o.n_embd, X = o.n_expert, F = o.n_ff;
  return {
      {"attn_norm.weight", {E}},         {"attn_q.weight", {E, E}},
      {"attn_k.weight", {E, E}},         {"attn_v.weight", {E, E}},
      {"attn_output.weight", {E, E}},    {"attn_q_norm.weight", {E}},
      {"attn_k_norm.weight", {E}},       {"ffn_norm.weight", {E}},
      {"ffn_gate_inp.weight", {E, X}},   {"ffn_gate_exps.weight", {E, F, X}},
      {"ffn_up_exps.weight", {E, F, X}}, {"ffn_down_exps.weight", {F, E, X}},
  };
}

int64_t u32(const gguf::Layout& l, const std::string& k) {
  const gguf::KeyValue* kv = l.find(k);
  if (kv == nullptr) return -1;
  if (const uint32_t* u = kv->value.get_if<uint32_t>()) return *u;
  return -2;
}

TEST(SynthOlmoe, LayoutIsLlamaCppsOlmoe) {
  const Options o = olmoe(TypeId::F16);
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
      const bool f32 = ne.size() == 1 || suffix == "ffn_gate_inp.weight";
      EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : TypeId::F16)) << name;
      ++expected_count;
    }
  }
  EXPECT_EQ(layout->tensors.size(), expected_count);
  // feed_forward_length is the expert width; no per-architecture extras.
  EXPECT_EQ(u32(*layout, "olmoe.feed_forward_length"), 64);
  EXPECT_EQ(u32(*layout, "olmoe.expert_count"), 8);
  EXPECT_EQ(u32(*layout, "olmoe.expert_used_count"), 2);
  EXPECT_EQ(layout->find("olmoe.rope.dimension_count"), nullptr);
  EXPECT_EQ(layout->find("olmoe.expert_gating_func"), nullptr);
}

struct Case {
  std::string label;
  Options opts;
};

std::vector<Case> cases() {
  std::vector<Case> v = {{"f32", olmoe(TypeId::F32)}, {"f16", olmoe(TypeId::F16)}};
  Options o = olmoe(TypeId::F16);
  o.n_head = o.n_head_kv = 6, o.n_embd = 96, o.n_ff = 40;  // rows not multiples of 32
  v.push_back({"six_heads", o});
  return v;
}

class SynthOlmoeOracle : public ::testing::TestWithParam<Case> {};

TEST_P(SynthOlmoeOracle, LoadsAndRunsInLlamaCpp) {
  const Case& c = GetParam();
  expect_runs_in_llama_cpp(c.opts, c.label);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthOlmoeOracle, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthOlmoe, SameBytesWhateverTheThreadCount) {
  Options o = olmoe(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.n_layer = 2;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthOlmoe, GroupedKvHeadsAreAnError) {
  Options o = olmoe(TypeId::F16);
  o.n_head_kv = 2;
  Status s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("n_head_kv"), std::string::npos) << s.message();
  o = olmoe(TypeId::F16);
  o.head_dim = 64;  // q/o projections must be n_embd square
  EXPECT_FALSE(validate(o).ok());
}

}  // namespace
}  // namespace apex::synth
