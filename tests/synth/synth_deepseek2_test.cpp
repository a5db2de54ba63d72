// deepseek2 (DeepSeek-V3 / Kimi-K2, multi-head latent attention) synthetic
// models: the layout follows llama.cpp's loader for MLA files (checked here
// against an independent statement of it), the oracle loads and runs them
// (also with the real DeepSeek-V3 tokenizer through `apex synth
// --tokenizer`), and the bytes do not depend on the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "gguf/gguf.h"
#include "oracle/oracle.h"
#include "synth/synth.h"
#include "synth_test_support.h"

namespace apex::synth {
namespace {

using quant::TypeId;
using testing::expect_runs_in_llama_cpp;
using testing::expect_same_bytes_whatever_threads;
using testing::TempDir;
using testing::expect_sane_logits;

Options ds2(TypeId type) {
  Options o;
  o.arch = "deepseek2";
  o.n_layer = 4;
  o.n_embd = 128;
  o.n_head = 4;
  o.head_dim = 48;  // qk_nope 32 + qk_rope 16
  o.rope_dim = 16;
  o.v_head_dim = 40;
  o.q_lora_rank = 64;
  o.kv_lora_rank = 32;
  o.n_expert = 8;
  o.n_expert_used = 3;
  o.n_ff = 64;
  o.n_ff_dense = 160;
  o.n_dense_lead = 1;
  o.n_expert_shared = 2;
  o.n_expert_groups = 4;
  o.n_group_used = 2;
  o.expert_weights_scale = 2.5f;  // DeepSeek-V3's routed_scaling_factor
  o.n_vocab = 600;
  o.weight_type = type;
  o.context_length = 512;
  o.seed = 13;
  return o;
}

// What llama.cpp's deepseek2 loader creates for block il of an MLA file
// (written out from its load_arch_tensors, not derived from synth's table).
std::map<std::string, std::vector<int64_t>> expected_block(const Options& o, int il) {
  const int64_t E = o.n_embd, H = o.n_head, k_mla = o.head_dim, rope = o.rope_dim;
  const int64_t nope = k_mla - rope, v_mla = o.v_head_dim, kv = o.kv_lora_rank;
  const int64_t shexp = o.n_ff * o.n_expert_shared;
  std::map<std::string, std::vector<int64_t>> m = {
      {"attn_norm.weight", {E}},
      {"attn_kv_a_norm.weight", {kv}},
      {"attn_kv_a_mqa.weight", {E, kv + rope}},
      {"attn_k_b.weight", {nope, kv, H}},
      {"attn_v_b.weight", {kv, v_mla, H}},
      {"attn_output.weight", {H * v_mla, E}},
      {"ffn_norm.weight", {E}},
  };
  if (o.q_lora_rank > 0) {
    m["attn_q_a_norm.weight"] = {o.q_lora_rank};
    m["attn_q_a.weight"] = {E, o.q_lora_rank};
    m["attn_q_b.weight"] = {o.q_lora_rank, H * k_mla};
  } else {
    m["attn_q.weight"] = {E, H * k_mla};
  }
  if (il < o.n_dense_lead) {
    m["ffn_gate.weight"] = {E, o.n_ff_dense};
    m["ffn_up.weight"] = {E, o.n_ff_dense};
    m["ffn_down.weight"] = {o.n_ff_dense, E};
  } else {
    m["ffn_gate_inp.weight"] = {E, o.n_expert};
    if (o.expert_gating_func == 2) m["exp_probs_b.bias"] = {o.n_expert};
    m["ffn_gate_exps.weight"] = {E, o.n_ff, o.n_expert};
    m["ffn_up_exps.weight"] = {E, o.n_ff, o.n_expert};
    m["ffn_down_exps.weight"] = {o.n_ff, E, o.n_expert};
    m["ffn_gate_shexp.weight"] = {E, shexp};
    m["ffn_up_shexp.weight"] = {E, shexp};
    m["ffn_down_shexp.weight"] = {shexp, E};
  }
  return m;
}

int64_t u32(const gguf::Layout& l, const std::string& k) {
  const gguf::KeyValue* kv = l.find(k);
  if (kv == nullptr) return -1;
  if (const uint32_t* u = kv->value.get_if<uint32_t>()) return *u;
  return -2;
}

TEST(SynthDeepseek2, LayoutIsLlamaCppsMlaDeepseek2) {
  for (int64_t q_lora : {int64_t{64}, int64_t{0}}) {
    Options o = ds2(TypeId::F16);
    o.q_lora_rank = q_lora;
    auto layout = make_layout(o);
    ASSERT_TRUE(layout.ok()) << layout.message();
    std::map<std::string, const gguf::TensorInfo*> by_name;
    for (const gguf::TensorInfo& t : layout->tensors) by_name[t.name] = &t;
    size_t expected_count = 3;  // token_embd, output_norm, output
    for (int il = 0; il < o.n_layer; ++il) {
      for (const auto& [suffix, ne] : expected_block(o, il)) {
        const std::string name = "blk." + std::to_string(il) + "." + suffix;
        ASSERT_TRUE(by_name.count(name)) << name;
        EXPECT_EQ(by_name[name]->ne, ne) << name;
        // The converter keeps 1-D tensors and the router in F32.
        const bool f32 = ne.size() == 1 || suffix == "ffn_gate_inp.weight";
        EXPECT_EQ(by_name[name]->type, static_cast<int32_t>(f32 ? TypeId::F32 : TypeId::F16))
            << name;
        ++expected_count;
      }
    }
    EXPECT_EQ(layout->tensors.size(), expected_count);
    const std::string a = "deepseek2.";
    const gguf::Layout& l = *layout;
    EXPECT_EQ(u32(l, a + "attention.head_count_kv"), 1);
    EXPECT_EQ(u32(l, a + "attention.kv_lora_rank"), 32);
    EXPECT_EQ(u32(l, a + "attention.q_lora_rank"), q_lora);
    EXPECT_EQ(u32(l, a + "attention.key_length"), 32 + 16);
    EXPECT_EQ(u32(l, a + "attention.value_length"), 32);
    EXPECT_EQ(u32(l, a + "attention.key_length_mla"), 48);
    EXPECT_EQ(u32(l, a + "attention.value_length_mla"), 40);
    EXPECT_EQ(u32(l, a + "rope.dimension_count"), 16);
    EXPECT_EQ(u32(l, a + "leading_dense_block_count"), 1);
    EXPECT_EQ(u32(l, a + "feed_forward_length"), 160);
    EXPECT_EQ(u32(l, a + "expert_feed_forward_length"), 64);
    EXPECT_EQ(u32(l, a + "expert_shared_count"), 2);
    EXPECT_EQ(u32(l, a + "expert_gating_func"), 2);
    EXPECT_EQ(u32(l, a + "expert_group_count"), 4);
    EXPECT_EQ(u32(l, a + "expert_group_used_count"), 2);
    EXPECT_EQ(u32(l, a + "vocab_size"), 600);
    ASSERT_NE(l.find(a + "expert_weights_scale"), nullptr);
    ASSERT_NE(l.find(a + "expert_weights_norm"), nullptr);
  }
}

struct Ds2Case {
  std::string label;
  Options opts;
};

std::vector<Ds2Case> ds2_cases() {
  std::vector<Ds2Case> cases = {{"f32", ds2(TypeId::F32)}, {"f16", ds2(TypeId::F16)}};
  // DeepSeek-V2-Lite-like: plain attn_q, softmax gating without the
  // selection bias or groups, no dense lead, one shared expert.
  Options o = ds2(TypeId::F16);
  o.q_lora_rank = 0, o.expert_gating_func = 1, o.n_expert_groups = 0, o.n_group_used = 0;
  o.n_dense_lead = 0, o.n_expert_shared = 1, o.expert_weights_scale = 0.0f;
  o.expert_weights_norm = false;
  cases.push_back({"lite_softmax", o});
  // YaRN context extension as DeepSeek-V3 ships it.
  o = ds2(TypeId::F16);
  o.yarn_factor = 40.0f, o.yarn_orig_context = 128, o.yarn_mscale_all_dim = 1.0f;
  cases.push_back({"yarn", o});
  return cases;
}

class SynthDeepseek2Oracle : public ::testing::TestWithParam<Ds2Case> {};

TEST_P(SynthDeepseek2Oracle, LoadsAndRunsInLlamaCpp) {
  const Ds2Case& c = GetParam();
  expect_runs_in_llama_cpp(c.opts, c.label);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SynthDeepseek2Oracle, ::testing::ValuesIn(ds2_cases()),
                         [](const auto& info) { return info.param.label; });

TEST(SynthDeepseek2, SameBytesWhateverTheThreadCount) {
  Options o = ds2(TypeId::F16);
  o.n_embd = 256, o.n_ff = 512;  // expert tensors span several slabs
  expect_same_bytes_whatever_threads(o);
}

TEST(SynthDeepseek2, RefusesWhatLlamaCppWouldNotLoad) {
  Options o = ds2(TypeId::F16);
  o.rope_dim = 48;  // no unrotated dims left
  EXPECT_NE(validate(o).message().find("rope_dim"), std::string::npos);
  o = ds2(TypeId::F16);
  o.n_group_used = 4;
  EXPECT_NE(validate(o).message().find("n_group_used"), std::string::npos);
  o = ds2(TypeId::F16);
  o.n_expert_groups = 3;
  EXPECT_NE(validate(o).message().find("n_expert_groups"), std::string::npos);
  o = ds2(TypeId::F16);
  o.expert_gating_func = 3;
  EXPECT_NE(validate(o).message().find("expert_gating_func"), std::string::npos);
  o = ds2(TypeId::F16);
  o.kv_lora_rank = 0;
  EXPECT_NE(validate(o).message().find("kv_lora_rank"), std::string::npos);
}

// The real DeepSeek-V3 tokenizer (gpt2 BPE, pre "deepseek-v3") through the
// CLI: llama.cpp loads the file and runs it.
TEST(SynthDeepseek2, CliWithRealDeepseekV3Tokenizer) {
  const char* env = std::getenv("APEX_TOKENIZERS_DIR");
  const std::string dir_tok = env != nullptr ? env
                                             : std::string(APEX_TEST_DATA_DIR) +
                                                   "/../../third_party/oracle/node_modules/@lenml";
  const std::string json = dir_tok + "/tokenizer-deepseek_v3/models/tokenizer.json";
  ASSERT_TRUE(std::filesystem::exists(json)) << json << " missing: run scripts/deps.sh --oracle";
  TempDir dir;
  const std::string out = dir.file("ds2-tok.gguf");
  const std::string cmd = std::string(APEX_BINARY) +
                          " synth --arch deepseek2 --layers 2 --embd 64 --heads 2 --head-dim 48 "
                          "--rope-dim 16 --q-lora-rank 32 --kv-lora-rank 32 --experts 4 "
                          "--experts-used 2 --ff 32 --dense-lead 1 --no-progress --tokenizer " +
                          json + " " + out + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok()) << f.message();
  std::string model, pre;
  EXPECT_TRUE((*f)->get_string("tokenizer.ggml.model", model));
  EXPECT_TRUE((*f)->get_string("tokenizer.ggml.pre", pre));
  EXPECT_EQ(model, "gpt2");
  EXPECT_EQ(pre, "deepseek-v3");
  const gguf::TensorInfo* embd = (*f)->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  const std::vector<int32_t> tokens = {0, 100, 2000, 30000, 128000, 5};
  expect_sane_logits(oracle::eval_logits(out, tokens, 2), tokens.size(), embd->ne[1], "tokenizer");
}

}  // namespace
}  // namespace apex::synth
