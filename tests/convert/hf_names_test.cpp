// The GGUF <-> Hugging Face name table against (a) every tensor apex synth
// writes for each architecture (the llama.cpp loader's own list) and (b)
// names written out by hand from the published Qwen1.5-MoE-A2.7B and
// Qwen3-30B-A3B checkpoints' model.safetensors.index.json.
#include <gtest/gtest.h>

#include <set>

#include "convert/hf_names.h"
#include "synth/synth.h"

namespace apex::convert {
namespace {

TEST(HfNames, KnownCheckpointNames) {
  const ArchNames* q3 = find_arch_names("qwen3moe");
  const ArchNames* q2 = find_arch_names("qwen2moe");
  ASSERT_NE(q3, nullptr);
  ASSERT_NE(q2, nullptr);
  EXPECT_EQ(find_arch_names_by_hf("Qwen3MoeForCausalLM"), q3);
  EXPECT_EQ(find_arch_names_by_hf("Qwen2MoeForCausalLM"), q2);
  EXPECT_EQ(find_arch_names("llama"), nullptr);

  struct Case {
    const ArchNames* a;
    const char* hf;
    const char* gguf;
  };
  const Case cases[] = {
      {q3, "model.embed_tokens.weight", "token_embd.weight"},
      {q3, "lm_head.weight", "output.weight"},
      {q3, "model.norm.weight", "output_norm.weight"},
      {q3, "model.layers.47.self_attn.k_norm.weight", "blk.47.attn_k_norm.weight"},
      {q3, "model.layers.0.self_attn.o_proj.weight", "blk.0.attn_output.weight"},
      {q3, "model.layers.10.post_attention_layernorm.weight", "blk.10.ffn_norm.weight"},
      {q3, "model.layers.3.mlp.gate.weight", "blk.3.ffn_gate_inp.weight"},
      {q2, "model.layers.23.self_attn.v_proj.bias", "blk.23.attn_v.bias"},
      {q2, "model.layers.5.mlp.shared_expert_gate.weight", "blk.5.ffn_gate_inp_shexp.weight"},
      {q2, "model.layers.5.mlp.shared_expert.down_proj.weight", "blk.5.ffn_down_shexp.weight"},
  };
  for (const Case& c : cases) {
    auto g = hf_to_gguf(*c.a, c.hf);
    ASSERT_TRUE(g.has_value()) << c.hf;
    EXPECT_EQ(g->name, c.gguf);
    auto h = gguf_to_hf(*c.a, c.gguf);
    ASSERT_TRUE(h.has_value()) << c.gguf;
    EXPECT_EQ(h->name, c.hf);
  }
  // Qwen3 has no biases or shared expert; Qwen2 no q/k norms.
  EXPECT_FALSE(hf_to_gguf(*q3, "model.layers.1.self_attn.q_proj.bias"));
  EXPECT_FALSE(hf_to_gguf(*q3, "model.layers.1.mlp.shared_expert_gate.weight"));
  EXPECT_FALSE(hf_to_gguf(*q2, "model.layers.1.self_attn.q_norm.weight"));
  // Numbers are whole decimal fields.
  EXPECT_FALSE(hf_to_gguf(*q3, "model.layers.x.mlp.gate.weight"));
  EXPECT_FALSE(hf_to_gguf(*q3, "model.layers.01.mlp.gate.weight"));
  EXPECT_FALSE(hf_to_gguf(*q3, "model.layers.1.mlp.gate.weight.extra"));

  auto e = hf_expert_to_gguf(*q3, "model.layers.12.mlp.experts.127.gate_proj.weight");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->name, "blk.12.ffn_gate_exps.weight");
  EXPECT_EQ(e->bid, 12);
  EXPECT_EQ(e->xid, 127);
  auto back = gguf_expert_to_hf(*q3, "blk.12.ffn_down_exps.weight", 59);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name, "model.layers.12.mlp.experts.59.down_proj.weight");
  EXPECT_EQ(fill_name(q3->experts[back->row].hf_stacked, 12), "model.layers.12.mlp.experts.down_proj.weight");
  // An expert tensor is not a plain tensor and the other way round.
  EXPECT_FALSE(hf_to_gguf(*q3, "model.layers.12.mlp.experts.1.up_proj.weight"));
  EXPECT_FALSE(gguf_to_hf(*q3, "blk.12.ffn_up_exps.weight"));
}

// Every tensor of a synthetic model of each architecture has exactly one
// HF counterpart, distinct names, and maps back to itself.
TEST(HfNames, CoversEverySynthTensor) {
  for (const char* arch : {"qwen2moe", "qwen3moe"}) {
    const ArchNames* a = find_arch_names(arch);
    ASSERT_NE(a, nullptr) << arch;
    synth::Options o;
    o.arch = arch;
    o.n_layer = 12;  // two-digit block numbers
    o.n_embd = 64;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_expert = 11;
    o.n_ff = 32;
    o.n_vocab = 300;
    auto layout = synth::make_layout(o);
    ASSERT_TRUE(layout.ok()) << layout.message();
    std::set<std::string> hf_names;
    for (const auto& t : layout->tensors) {
      if (t.ne.size() == 3) {
        for (int x = 0; x < o.n_expert; ++x) {
          auto h = gguf_expert_to_hf(*a, t.name, x);
          ASSERT_TRUE(h.has_value()) << arch << " " << t.name;
          EXPECT_TRUE(hf_names.insert(h->name).second) << h->name;
          auto g = hf_expert_to_gguf(*a, h->name);
          ASSERT_TRUE(g.has_value()) << h->name;
          EXPECT_EQ(g->name, t.name);
          EXPECT_EQ(g->xid, x);
        }
        continue;
      }
      auto h = gguf_to_hf(*a, t.name);
      ASSERT_TRUE(h.has_value()) << arch << " " << t.name;
      EXPECT_TRUE(hf_names.insert(h->name).second) << h->name;
      auto g = hf_to_gguf(*a, h->name);
      ASSERT_TRUE(g.has_value()) << h->name;
      EXPECT_EQ(g->name, t.name);
    }
  }
}

}  // namespace
}  // namespace apex::convert
