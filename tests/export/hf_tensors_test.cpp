// export-int's tensor kinds against src/convert/hf_names, the name table it
// takes its names from: every row of every export-int architecture must have
// a kind, or export-int would refuse a tensor `apex convert` accepts.
#include <gtest/gtest.h>

#include "convert/hf_names.h"
#include "export/hf_tensors.h"

namespace apex::xport {
namespace {

TEST(HfTensors, EveryNameRowHasAKind) {
  for (const char* arch : {"qwen2moe", "qwen3moe"}) {
    const auto a = find_arch_tensors(arch);
    ASSERT_TRUE(a.has_value()) << arch;
    for (const convert::NamePair& r : a->names->tensors) {
      EXPECT_TRUE(place_tensor(*a, convert::fill_name(r.gguf, 3))) << arch << " " << r.gguf;
    }
    for (const convert::ExpertNames& r : a->names->experts) {
      const std::string name = convert::fill_name(r.gguf, 3);
      EXPECT_TRUE(place_tensor(*a, name)) << arch << " " << r.gguf;
    }
  }
  EXPECT_FALSE(find_arch_tensors("llama"));
}

TEST(HfTensors, PlacesAsBefore) {
  const auto a = find_arch_tensors("qwen2moe");
  ASSERT_TRUE(a.has_value());
  auto p = place_tensor(*a, "blk.5.attn_q.weight");  // a Linear: its module
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kLinear);
  EXPECT_EQ(p->bid, 5);
  EXPECT_EQ(p->hf, "model.layers.5.self_attn.q_proj");
  p = place_tensor(*a, "blk.5.ffn_gate_inp.weight");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kRouter);
  EXPECT_EQ(p->hf, "model.layers.5.mlp.gate");
  p = place_tensor(*a, "blk.5.attn_q.bias");  // anything else: the full name
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kVector);
  EXPECT_EQ(p->hf, "model.layers.5.self_attn.q_proj.bias");
  p = place_tensor(*a, "blk.5.ffn_gate_inp_shexp.weight");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kRowVector);
  EXPECT_EQ(p->hf, "model.layers.5.mlp.shared_expert_gate.weight");
  p = place_tensor(*a, "token_embd.weight");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kEmbedding);
  EXPECT_EQ(p->bid, -1);
  EXPECT_EQ(p->hf, "model.embed_tokens.weight");
  p = place_tensor(*a, "blk.5.ffn_up_exps.weight");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kExpertUp);
  EXPECT_EQ(p->bid, 5);
  EXPECT_EQ(expert_module(*a, "blk.5.ffn_up_exps.weight", 7), "model.layers.5.mlp.experts.7.up_proj");
  EXPECT_FALSE(place_tensor(*a, "blk.5.attn_q_norm.weight"));  // Qwen3 only
  EXPECT_FALSE(place_tensor(*a, "blk.x.attn_q.weight"));
}

}  // namespace
}  // namespace apex::xport
