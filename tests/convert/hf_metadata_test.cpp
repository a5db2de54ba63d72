// general.* name guessing against the values published GGUF conversions of
// well-known checkpoints carry (read off their metadata as llama.cpp's
// converter wrote them), and the rounded parameter counts of gguf-py's
// size labels worked out by hand.
#include <gtest/gtest.h>

#include "convert/hf_metadata.h"

namespace apex::convert {
namespace {

TEST(HfMetadata, ModelIdParts) {
  {
    const ModelIdParts p = model_id_parts("Qwen/Qwen3-30B-A3B", 0);
    EXPECT_EQ(p.organization.value_or("-"), "Qwen");
    EXPECT_EQ(p.basename.value_or("-"), "Qwen3");
    EXPECT_EQ(p.size_label.value_or("-"), "30B-A3B");
    EXPECT_FALSE(p.finetune.has_value());
    EXPECT_FALSE(p.version.has_value());
    EXPECT_EQ(id_to_title(*p.name), "Qwen3 30B A3B");
  }
  {
    const ModelIdParts p = model_id_parts("mistralai/Mixtral-8x7B-Instruct-v0.1", 0);
    EXPECT_EQ(id_to_title(p.organization.value_or("-")), "Mistralai");
    EXPECT_EQ(p.basename.value_or("-"), "Mixtral");
    EXPECT_EQ(p.size_label.value_or("-"), "8x7B");
    EXPECT_EQ(p.finetune.value_or("-"), "Instruct");
    EXPECT_EQ(p.version.value_or("-"), "v0.1");
    EXPECT_EQ(id_to_title(*p.name), "Mixtral 8x7B Instruct v0.1");
  }
  {
    const ModelIdParts p = model_id_parts("Qwen1.5-MoE-A2.7B", 0);
    EXPECT_EQ(p.basename.value_or("-"), "Qwen1.5-MoE");
    EXPECT_EQ(p.size_label.value_or("-"), "A2.7B");
    EXPECT_EQ(id_to_title(*p.name), "Qwen1.5 MoE A2.7B");
  }
  {
    // No size, version or finetune: too ambiguous for a basename.
    const ModelIdParts p = model_id_parts("tiny-moe", 0);
    EXPECT_FALSE(p.basename.has_value());
    EXPECT_EQ(id_to_title(*p.name), "Tiny Moe");
  }
  // A context length in the name is a finetune, not a size, once the
  // parameter count is known (7B parameters, "32k").
  const ModelIdParts ctx = model_id_parts("Model-7B-32k", 7'000'000'000);
  EXPECT_EQ(ctx.size_label.value_or("-"), "7B");
  EXPECT_EQ(ctx.finetune.value_or("-"), "32k");
}

TEST(HfMetadata, SizeLabels) {
  EXPECT_EQ(rounded_count(30'532'122'624), "31B");
  EXPECT_EQ(rounded_count(1'234'567), "1.2M");
  EXPECT_EQ(rounded_count(999), "1.0K");
  ParamCounts p;
  p.shared = 1'000'000'000;
  p.expert = 400'000'000;
  p.expert_count = 128;
  p.total = p.shared + 128 * p.expert;
  EXPECT_EQ(size_label(p), "128x1.4B");
  p.expert_count = 0;
  EXPECT_EQ(size_label(p), "52B");

  std::vector<gguf::TensorInfo> t(2);
  t[0].name = "blk.0.ffn_up_exps.weight";
  t[0].ne = {64, 32, 8};
  t[1].name = "token_embd.weight";
  t[1].ne = {64, 300};
  const ParamCounts c = count_params(t);
  EXPECT_EQ(c.expert, 64 * 32);
  EXPECT_EQ(c.shared, 64 * 300);
  EXPECT_EQ(c.expert_count, 8);
  EXPECT_EQ(c.total, 64 * 32 * 8 + 64 * 300);
}

}  // namespace
}  // namespace apex::convert
