// qwen35moe's GGUF <-> Hugging Face names against (a) names written out by
// hand from the published Qwen3.5-35B-A3B model.safetensors.index.json
// (multimodal wrapper: "model.language_model." prefixes, the MTP head under
// "mtp.", fused experts) and (b) every tensor apex synth writes for
// qwen35moe with an MTP block, both ways.
#include <gtest/gtest.h>

#include <set>

#include "convert/hf_names.h"
#include "synth/synth.h"

namespace apex::convert {
namespace {

TEST(HfNamesQwen35, PublishedCheckpointNames) {
  const ArchNames* a = find_arch_names("qwen35moe");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(find_arch_names_by_hf("Qwen3_5MoeForConditionalGeneration"), a);
  EXPECT_EQ(find_arch_names_by_hf("Qwen3_5MoeForCausalLM"), a);
  const int n_trunk = 40;
  struct Case {
    const char* hf;
    const char* gguf;
  };
  const Case cases[] = {
      {"model.language_model.embed_tokens.weight", "token_embd.weight"},
      {"model.language_model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"model.language_model.layers.0.linear_attn.in_proj_qkv.weight", "blk.0.attn_qkv.weight"},
      {"model.language_model.layers.0.linear_attn.in_proj_z.weight", "blk.0.attn_gate.weight"},
      {"model.language_model.layers.0.linear_attn.in_proj_a.weight", "blk.0.ssm_alpha.weight"},
      {"model.language_model.layers.0.linear_attn.in_proj_b.weight", "blk.0.ssm_beta.weight"},
      {"model.language_model.layers.0.linear_attn.A_log", "blk.0.ssm_a"},
      {"model.language_model.layers.0.linear_attn.dt_bias", "blk.0.ssm_dt.bias"},
      {"model.language_model.layers.0.linear_attn.conv1d.weight", "blk.0.ssm_conv1d.weight"},
      {"model.language_model.layers.0.linear_attn.norm.weight", "blk.0.ssm_norm.weight"},
      {"model.language_model.layers.0.linear_attn.out_proj.weight", "blk.0.ssm_out.weight"},
      {"model.language_model.layers.3.self_attn.q_norm.weight", "blk.3.attn_q_norm.weight"},
      {"model.language_model.layers.39.post_attention_layernorm.weight", "blk.39.post_attention_norm.weight"},
      {"model.language_model.layers.7.mlp.shared_expert_gate.weight", "blk.7.ffn_gate_inp_shexp.weight"},
      {"mtp.fc.weight", "blk.40.nextn.eh_proj.weight"},
      {"mtp.pre_fc_norm_embedding.weight", "blk.40.nextn.enorm.weight"},
      {"mtp.pre_fc_norm_hidden.weight", "blk.40.nextn.hnorm.weight"},
      {"mtp.norm.weight", "blk.40.nextn.shared_head_norm.weight"},
      {"mtp.layers.0.self_attn.o_proj.weight", "blk.40.attn_output.weight"},
      {"mtp.layers.0.input_layernorm.weight", "blk.40.attn_norm.weight"},
  };
  for (const Case& c : cases) {
    auto g = hf_to_gguf(*a, hf_table_name(*a, c.hf, n_trunk));
    ASSERT_TRUE(g.has_value()) << c.hf;
    EXPECT_EQ(g->name, c.gguf) << c.hf;
  }
  auto fused = hf_fused_to_gguf(*a, hf_table_name(*a, "mtp.layers.0.mlp.experts.gate_up_proj", n_trunk));
  ASSERT_TRUE(fused.has_value());
  EXPECT_EQ(fused->bid, 40);
  ASSERT_EQ(fused->rows.size(), 2u);
  EXPECT_EQ(fill_name(a->experts[fused->rows[0]].gguf, 40), "blk.40.ffn_gate_exps.weight");
  EXPECT_EQ(fill_name(a->experts[fused->rows[1]].gguf, 40), "blk.40.ffn_up_exps.weight");
  auto down = hf_fused_to_gguf(*a, hf_table_name(*a, "model.language_model.layers.5.mlp.experts.down_proj", n_trunk));
  ASSERT_TRUE(down.has_value());
  ASSERT_EQ(down->rows.size(), 1u);
  EXPECT_EQ(fill_name(a->experts[down->rows[0]].gguf, 5), "blk.5.ffn_down_exps.weight");
}

TEST(HfNamesQwen35, CoversEverySynthTensorWithMtp) {
  const ArchNames* a = find_arch_names("qwen35moe");
  ASSERT_NE(a, nullptr);
  synth::Options o;
  o.arch = "qwen35moe";
  o.n_layer = 12;
  o.n_embd = 64;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_expert = 3;
  o.n_ff = 32;
  o.n_vocab = 300;
  o.n_mtp = 1;
  auto layout = synth::make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  std::set<std::string> names;
  for (const auto& t : layout->tensors) {
    if (t.ne.size() == 3) {
      for (int x = 0; x < o.n_expert; ++x) {
        auto h = gguf_expert_to_hf(*a, t.name, x, o.n_layer);
        ASSERT_TRUE(h.has_value()) << t.name;
        EXPECT_TRUE(names.insert(h->name).second) << h->name;
        auto g = hf_expert_to_gguf(*a, hf_table_name(*a, h->name, o.n_layer));
        ASSERT_TRUE(g.has_value()) << h->name;
        EXPECT_EQ(g->name, t.name);
      }
      continue;
    }
    auto h = gguf_to_hf(*a, t.name, o.n_layer);
    ASSERT_TRUE(h.has_value()) << t.name;
    EXPECT_TRUE(names.insert(h->name).second) << h->name;
    EXPECT_EQ(h->name.find("model.layers.12."), std::string::npos) << h->name;  // the MTP block is under mtp.*
    auto g = hf_to_gguf(*a, hf_table_name(*a, h->name, o.n_layer));
    ASSERT_TRUE(g.has_value()) << h->name;
    EXPECT_EQ(g->name, t.name);
  }
}

}  // namespace
}  // namespace apex::convert
