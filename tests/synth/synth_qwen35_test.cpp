// qwen35moe (Qwen3.5/3.6 MoE, Gated DeltaNet hybrid) synthetic models: the
// layout follows llama.cpp's loader for the architecture (checked here
// against an independent statement of it), the oracle loads and runs them,
// and the bytes do not depend on the generator's thread count.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "oracle/oracle.h"
#include "synth_test_support.h"
#include "synth/synth.h"

namespace apex::synth {
namespace {

namespace fs = std::filesystem;
using quant::TypeId;

using testing::expect_runs_in_llama_cpp;
using testing::expect_same_bytes_whatever_threads;

Options q35(TypeId type) {
  Options o;
  o.arch = "qwen35moe";
  o.n_layer = 8;
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
  o.weight_type = type;
  o.context_length = 512;
  o.seed = 11;
  return o;
}

// What llama.cpp's qwen35moe loader creates for block il (written out here
// from its load_arch_tensors, not derived from synth's table).
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o, int il) {
  const int64_t E = o.n_embd, hd = o.head_dim, q = hd * o.n_head, kv = hd * o.n_head_kv;
  const int64_t key_dim = o.ssm_d_state * o.ssm_n_group, value_dim = o.ssm_d_state * o.ssm_dt_rank;
  const int64_t conv_dim = 2 * key_dim + value_dim, vh = o.ssm_dt_rank;
  const int64_t ffs = o.n_ff_shared > 0 ? o.n_ff_shared : o.n_ff;
  std::map<std::string, std::vector<int64_t>> m = {
      {"attn_norm.weight", {E}},
      {"post_attention_norm.weight", {E}},
      {"ffn_gate_inp.weight", {E, o.n_expert}},
      {"ffn_gate_exps.weight", {E, o.n_ff, o.n_expert}},
      {"ffn_up_exps.weight", {E, o.n_ff, o.n_expert}},
      {"ffn_down_exps.weight", {o.n_ff, E, o.n_expert}},
      {"ffn_gate_inp_shexp.weight", {E}},
      {"ffn_gate_shexp.weight", {E, ffs}},
      {"ffn_up_shexp.weight", {E, ffs}},
      {"ffn_down_shexp.weight", {ffs, E}},
  };
  const bool recurrent = (il + 1) % o.full_attention_interval != 0;
  if (recurrent) {
    m["attn_qkv.weight"] = {E, conv_dim};
    m["attn_gate.weight"] = {E, value_dim};
    m["ssm_conv1d.weight"] = {o.ssm_d_conv, conv_dim};
    m["ssm_dt.bias"] = {vh};
    m["ssm_a"] = {vh};
    m["ssm_beta.weight"] = {E, vh};
    m["ssm_alpha.weight"] = {E, vh};
    m["ssm_norm.weight"] = {o.ssm_d_state};
    m["ssm_out.weight"] = {value_dim, E};
  } else {
    m["attn_q.weight"] = {E, 2 * q};
    m["attn_k.weight"] = {E, kv};
    m["attn_v.weight"] = {E, kv};
    m["attn_output.weight"] = {q, E};
    m["attn_q_norm.weight"] = {hd};
    m["attn_k_norm.weight"] = {hd};
  }
  return m;
}

TEST(SynthQwen35, LayoutIsLlamaCppsQwen35Moe) {
  const Options o = q35(TypeId::F16);
  auto layout = make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  std::map<std::string, const gguf::TensorInfo*> by_name;
  for (const gguf::TensorInfo& t : layout->tensors) by_name[t.name] = &t;
  size_t expected_count = 4;  // token_embd, output_norm, output (+ blocks below)
  for (int il = 0; il < o.n_layer; ++il) {
    for (const auto& [suffix, ne] : expected_block(o, il)) {
      const std::string name = "blk." + std::to_string(il) + "." + suffix;
      ASSERT_TRUE(by_name.count(name)) << name;
      EXPECT_EQ(by_name[name]->ne, ne) << name;
      // The converter keeps norms, 1-D tensors, routers and ssm_conv1d F32.
      const bool f32 = ne.size() == 1 || suffix.find("gate_inp") != std::string::npos ||
                       suffix.find("conv1d") != std::string::npos;
      EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : TypeId::F16)) << name;
      ++expected_count;
    }
  }
  EXPECT_EQ(layout->tensors.size(), expected_count - 1);
  // Layers 3 and 7 are full attention, the others recurrent.
  EXPECT_TRUE(by_name.count("blk.3.attn_q.weight"));
  EXPECT_TRUE(by_name.count("blk.7.attn_q.weight"));
  EXPECT_TRUE(by_name.count("blk.0.ssm_a"));
  EXPECT_FALSE(by_name.count("blk.3.ssm_a"));
  auto u32 = [&](const std::string& k) -> int64_t {
    const gguf::KeyValue* kv = layout->find(k);
    if (kv == nullptr) return -1;
    if (const uint32_t* u = kv->value.get_if<uint32_t>()) return *u;
    return -2;
  };
  EXPECT_EQ(u32("qwen35moe.ssm.conv_kernel"), 4);
  EXPECT_EQ(u32("qwen35moe.ssm.state_size"), 16);
  EXPECT_EQ(u32("qwen35moe.ssm.group_count"), 2);
  EXPECT_EQ(u32("qwen35moe.ssm.time_step_rank"), 4);
  EXPECT_EQ(u32("qwen35moe.ssm.inner_size"), 64);
  EXPECT_EQ(u32("qwen35moe.full_attention_interval"), 4);
  EXPECT_EQ(u32("qwen35moe.rope.dimension_count"), 8);  // head_dim / 4
  EXPECT_EQ(u32("qwen35moe.attention.key_length"), 32);
  EXPECT_EQ(u32("qwen35moe.expert_shared_feed_forward_length"), 96);
  ASSERT_NE(layout->find("qwen35moe.rope.dimension_sections"), nullptr);
}

struct Q35Case {
  std::string label;
  Options opts;
};

std::vector<Q35Case> q35_cases() {
  std::vector<Q35Case> cases = {{"f32", q35(TypeId::F32)}, {"f16", q35(TypeId::F16)}};
  // One value head per key head, interval 2, a wider rotation, 3 layers
  // (the last block recurrent), rows that are not multiples of 32.
  Options o = q35(TypeId::F16);
  o.n_layer = 3, o.ssm_dt_rank = 2, o.full_attention_interval = 2, o.rope_dim = 16;
  o.n_embd = 96, o.n_ff = 40, o.n_ff_shared = 0, o.ssm_d_conv = 3;
  cases.push_back({"narrow_interval2", o});
  // The multi-token-prediction block Qwen3.5's converter appends (block 8 of 9).
  o = q35(TypeId::F16);
  o.n_mtp = 1;
  cases.push_back({"with_mtp_block", o});
  return cases;
}

class SynthQwen35Oracle : public ::testing::TestWithParam<Q35Case> {};

TEST_P(SynthQwen35Oracle, LoadsAndRunsInLlamaCpp) {
  const Q35Case& c = GetParam();
  std::vector<float> logits;
  ASSERT_NO_FATAL_FAILURE(expect_runs_in_llama_cpp(c.opts, c.label, 10.0, &logits));
  // Same tokens at different positions see different (recurrent) states.
  const size_t V = static_cast<size_t>(c.opts.n_vocab);
  EXPECT_NE(std::vector<float>(logits.begin() + V, logits.begin() + 2 * V),
            std::vector<float>(logits.begin() + 2 * V, logits.begin() + 3 * V));
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthQwen35Oracle, ::testing::ValuesIn(q35_cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthQwen35, SameBytesWhateverTheThreadCount) {
  Options o = q35(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.n_layer = 4;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthQwen35, MtpBlockIsAFullAttentionBlockWithNextnTensors) {
  Options o = q35(TypeId::F16);
  o.n_mtp = 1;
  auto layout = make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  std::map<std::string, std::vector<int64_t>> by_name;
  for (const gguf::TensorInfo& t : layout->tensors) by_name[t.name] = t.ne;
  for (const auto& [suffix, ne] : expected_block(o, 7)) {  // a full-attention block
    ASSERT_TRUE(by_name.count("blk.8." + suffix)) << suffix;
    EXPECT_EQ(by_name["blk.8." + suffix], ne) << suffix;
  }
  EXPECT_EQ(by_name["blk.8.nextn.eh_proj.weight"], (std::vector<int64_t>{2 * o.n_embd, o.n_embd}));
  EXPECT_TRUE(by_name.count("blk.8.nextn.enorm.weight"));
  EXPECT_TRUE(by_name.count("blk.8.nextn.hnorm.weight"));
  EXPECT_FALSE(by_name.count("blk.7.nextn.enorm.weight"));
  const gguf::KeyValue* blocks = layout->find("qwen35moe.block_count");
  const gguf::KeyValue* nextn = layout->find("qwen35moe.nextn_predict_layers");
  ASSERT_TRUE(blocks != nullptr && nextn != nullptr);
  EXPECT_EQ(*blocks->value.get_if<uint32_t>(), 9u);
  EXPECT_EQ(*nextn->value.get_if<uint32_t>(), 1u);
}

TEST(SynthQwen35, DecayRatesAreNegative) {
  const Options o = q35(TypeId::F32);
  std::vector<float> a(static_cast<size_t>(o.ssm_dt_rank));
  ASSERT_TRUE(tensor_values(o, "blk.0.ssm_a", 0, a).ok());
  for (float v : a) EXPECT_LT(v, 0.0f);
}

TEST(SynthQwen35, BadSsmOptionsAreErrors) {
  Options o = q35(TypeId::F16);
  o.ssm_dt_rank = 3;  // not a multiple of the 2 groups
  Status s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ssm_dt_rank"), std::string::npos) << s.message();
  o = q35(TypeId::F16);
  o.rope_dim = 33;
  s = validate(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rope_dim"), std::string::npos) << s.message();
  o = q35(TypeId::F16);
  o.full_attention_interval = 0;
  EXPECT_FALSE(validate(o).ok());
}

}  // namespace
}  // namespace apex::synth
