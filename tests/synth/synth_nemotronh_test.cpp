// nemotron_h_moe (Nemotron-H MoE / Nemotron-3 Nano) synthetic models: the
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

Options nemo(TypeId type) {
  Options o;
  o.arch = "nemotron_h_moe";
  o.n_layer = 7;
  o.layer_pattern = "ME*EM*E";
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.head_dim = 32;
  o.n_expert = 8;
  o.n_expert_used = 2;
  o.n_ff = 64;
  o.n_ff_shared = 96;
  o.n_vocab = 600;
  o.ssm_d_state = 16;
  o.ssm_n_group = 2;
  o.ssm_dt_rank = 4;
  o.ssm_d_inner = 128;
  o.expert_weights_scale = 2.5f;
  o.weight_type = type;
  o.context_length = 512;
  o.seed = 5;
  return o;
}

// What llama.cpp's nemotron_h loader (shared by nemotron_h_moe) creates for
// a block of each kind, written out from its load_arch_tensors.
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o, char kind) {
  const int64_t E = o.n_embd, q = o.head_dim * o.n_head, kv = o.head_dim * o.n_head_kv;
  const int64_t inner = o.ssm_d_inner, ng = o.ssm_n_group, ds = o.ssm_d_state, nh = o.ssm_dt_rank;
  const int64_t in_proj = 2 * inner + 2 * ng * ds + nh, conv = inner + 2 * ng * ds;
  std::map<std::string, std::vector<int64_t>> m = {{"attn_norm.weight", {E}}};
  if (kind == 'M') {
    m["ssm_in.weight"] = {E, in_proj};
    m["ssm_conv1d.weight"] = {o.ssm_d_conv, conv};
    m["ssm_conv1d.bias"] = {conv};
    m["ssm_dt.bias"] = {nh};
    m["ssm_a"] = {1, nh};
    m["ssm_d"] = {1, nh};
    m["ssm_norm.weight"] = {inner / ng, ng};
    m["ssm_out.weight"] = {inner, E};
  } else if (kind == '*') {
    m["attn_q.weight"] = {E, q};
    m["attn_k.weight"] = {E, kv};
    m["attn_v.weight"] = {E, kv};
    m["attn_output.weight"] = {q, E};
  } else {
    m["ffn_gate_inp.weight"] = {E, o.n_expert};
    m["exp_probs_b.bias"] = {o.n_expert};
    m["ffn_up_exps.weight"] = {E, o.n_ff, o.n_expert};
    m["ffn_down_exps.weight"] = {o.n_ff, E, o.n_expert};
    m["ffn_up_shexp.weight"] = {E, o.n_ff_shared};
    m["ffn_down_shexp.weight"] = {o.n_ff_shared, E};
  }
  return m;
}

std::vector<int64_t> int_array(const gguf::Layout& l, const std::string& key) {
  std::vector<int64_t> out;
  const gguf::KeyValue* kv = l.find(key);
  if (kv == nullptr) return out;
  const auto* arr = kv->value.get_if<gguf::Array>();
  if (arr == nullptr) return out;
  for (const gguf::Value& v : arr->elems) {
    int64_t x = -1;
    v.as_int(x);
    out.push_back(x);
  }
  return out;
}

TEST(SynthNemotronH, LayoutIsLlamaCppsNemotronHMoe) {
  const Options o = nemo(TypeId::F16);
  auto layout = make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  std::map<std::string, const gguf::TensorInfo*> by_name;
  for (const gguf::TensorInfo& t : layout->tensors) by_name[t.name] = &t;
  size_t expected_count = 3;  // token_embd, output_norm, output
  for (int il = 0; il < o.n_layer; ++il) {
    for (const auto& [suffix, ne] : expected_block(o, o.layer_pattern[static_cast<size_t>(il)])) {
      const std::string name = "blk." + std::to_string(il) + "." + suffix;
      ASSERT_TRUE(by_name.count(name)) << name;
      EXPECT_EQ(by_name[name]->ne, ne) << name;
      // The converter stores names not ending in ".weight", norms, the
      // router and conv1d as F32.
      const bool f32 = !suffix.ends_with(".weight") || suffix.find("norm") != std::string::npos ||
                       suffix.find("gate_inp") != std::string::npos ||
                       suffix.find("conv1d") != std::string::npos;
      EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : TypeId::F16)) << name;
      ++expected_count;
    }
  }
  EXPECT_EQ(layout->tensors.size(), expected_count);
  // The loader's block kinds: kv heads only on attention blocks, the FFN
  // width only on MoE blocks, both zero on Mamba-2 blocks.
  EXPECT_EQ(int_array(*layout, "nemotron_h_moe.attention.head_count_kv"),
            (std::vector<int64_t>{0, 0, 2, 0, 0, 2, 0}));
  EXPECT_EQ(int_array(*layout, "nemotron_h_moe.feed_forward_length"),
            (std::vector<int64_t>{0, 64, 0, 64, 0, 0, 64}));
  auto u32 = [&](const std::string& k) -> int64_t {
    const gguf::KeyValue* kv = layout->find(k);
    int64_t v = -1;
    if (kv == nullptr || !kv->value.as_int(v)) return -1;
    return v;
  };
  EXPECT_EQ(u32("nemotron_h_moe.ssm.conv_kernel"), 4);
  EXPECT_EQ(u32("nemotron_h_moe.ssm.state_size"), 16);
  EXPECT_EQ(u32("nemotron_h_moe.ssm.group_count"), 2);
  EXPECT_EQ(u32("nemotron_h_moe.ssm.time_step_rank"), 4);
  EXPECT_EQ(u32("nemotron_h_moe.ssm.inner_size"), 128);
  EXPECT_EQ(u32("nemotron_h_moe.expert_feed_forward_length"), 64);
  EXPECT_EQ(u32("nemotron_h_moe.expert_shared_feed_forward_length"), 96);
  EXPECT_EQ(u32("nemotron_h_moe.expert_count"), 8);
  EXPECT_EQ(u32("nemotron_h_moe.expert_used_count"), 2);
  EXPECT_EQ(u32("nemotron_h_moe.attention.key_length"), 32);
  EXPECT_NE(layout->find("nemotron_h_moe.attention.layer_norm_epsilon"), nullptr);
  const gguf::KeyValue* scale = layout->find("nemotron_h_moe.expert_weights_scale");
  ASSERT_NE(scale, nullptr);
  const float* s = scale->value.get_if<float>();
  ASSERT_NE(s, nullptr);
  EXPECT_FLOAT_EQ(*s, 2.5f);
  EXPECT_EQ(layout->find("nemotron_h_moe.rope.dimension_count"), nullptr);
}

TEST(SynthNemotronH, DefaultPatternIsNanosRhythm) {
  Options o = nemo(TypeId::F16);
  o.layer_pattern.clear();
  o.n_layer = 9;
  auto layout = make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  // "MEMEM*E" repeated: block 5 is attention, 7 Mamba-2, 8 MoE.
  EXPECT_EQ(int_array(*layout, "nemotron_h_moe.attention.head_count_kv"),
            (std::vector<int64_t>{0, 0, 0, 0, 0, 2, 0, 0, 0}));
  EXPECT_EQ(int_array(*layout, "nemotron_h_moe.feed_forward_length"),
            (std::vector<int64_t>{0, 64, 0, 64, 0, 0, 64, 0, 64}));
}

struct NemoCase {
  std::string label;
  Options opts;
};

std::vector<NemoCase> nemo_cases() {
  std::vector<NemoCase> cases = {{"f32", nemo(TypeId::F32)}, {"f16", nemo(TypeId::F16)}};
  // One head per group, a 3-tap conv, rows that are not multiples of 32, no
  // renormalisation or scaling of the expert weights, ending on Mamba-2.
  Options o = nemo(TypeId::F16);
  o.n_layer = 4, o.layer_pattern = "M*EM", o.ssm_dt_rank = 2, o.ssm_d_conv = 3;
  o.n_embd = 96, o.n_ff = 40, o.n_ff_shared = 24, o.ssm_d_inner = 96;
  o.expert_weights_scale = 0.0f, o.expert_weights_norm = false;
  cases.push_back({"narrow", o});
  return cases;
}

class SynthNemotronHOracle : public ::testing::TestWithParam<NemoCase> {};

TEST_P(SynthNemotronHOracle, LoadsAndRunsInLlamaCpp) {
  const NemoCase& c = GetParam();
  std::vector<float> logits;
  ASSERT_NO_FATAL_FAILURE(expect_runs_in_llama_cpp(c.opts, c.label, 10.0, &logits));
  // Same tokens at different positions see different (recurrent) states.
  const size_t V = static_cast<size_t>(c.opts.n_vocab);
  EXPECT_NE(std::vector<float>(logits.begin() + V, logits.begin() + 2 * V),
            std::vector<float>(logits.begin() + 2 * V, logits.begin() + 3 * V));
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthNemotronHOracle, ::testing::ValuesIn(nemo_cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthNemotronH, SameBytesWhateverTheThreadCount) {
  Options o = nemo(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.ssm_d_inner = 512;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthNemotronH, BadOptionsAreErrors) {
  Options o = nemo(TypeId::F16);
  o.layer_pattern = "ME*EM*";  // 6 letters for 7 layers
  Status s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("layer_pattern"), std::string::npos) << s.message();
  o = nemo(TypeId::F16);
  o.layer_pattern = "ME*EMXE";
  EXPECT_FALSE(validate(o).ok());
  o = nemo(TypeId::F16);
  o.ssm_d_inner = 130;  // not a multiple of the 4 heads
  s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ssm_d_inner"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace apex::synth
