// The role table against the tensor names llama.cpp uses for the MoE
// architectures it knows.
#include "plan/roles.h"

#include <gtest/gtest.h>

namespace apex::plan {
namespace {

TEST(Roles, NamesOfEveryMoeFamily) {
  const std::pair<const char*, Role> cases[] = {
      // qwen2moe / qwen3moe / mixtral-style llama / olmoe / granitemoe
      {"blk.0.ffn_gate_exps.weight", Role::kRoutedExperts},
      {"blk.12.ffn_up_exps.weight", Role::kRoutedExperts},
      {"blk.3.ffn_down_exps.weight", Role::kRoutedExperts},
      {"blk.3.ffn_gate_up_exps.weight", Role::kRoutedExperts},   // fused (gpt-oss style converters)
      {"blk.3.ffn_gate_exps.bias", Role::kBias},                 // gpt-oss expert biases
      {"blk.0.ffn_gate_shexp.weight", Role::kSharedExperts},
      {"blk.0.ffn_down_shexp.weight", Role::kSharedExperts},
      {"blk.0.ffn_gate_inp.weight", Role::kRouter},
      {"blk.0.ffn_gate_inp_shexp.weight", Role::kRouter},
      {"blk.0.exp_probs_b.bias", Role::kBias},
      {"blk.0.attn_q.weight", Role::kAttention},
      {"blk.0.attn_k.weight", Role::kAttention},
      {"blk.0.attn_v.weight", Role::kAttention},
      {"blk.0.attn_output.weight", Role::kAttention},
      {"blk.0.attn_q.bias", Role::kBias},
      {"blk.0.attn_q_norm.weight", Role::kNorm},
      {"blk.0.attn_norm.weight", Role::kNorm},
      {"blk.0.ffn_norm.weight", Role::kNorm},
      // qwen3next / qwen35moe Gated DeltaNet
      {"blk.0.attn_qkv.weight", Role::kAttention},
      {"blk.0.attn_gate.weight", Role::kAttention},
      {"blk.0.ssm_alpha.weight", Role::kSsm},
      {"blk.0.ssm_beta.weight", Role::kSsm},
      {"blk.0.ssm_out.weight", Role::kSsm},
      {"blk.0.ssm_conv1d.weight", Role::kSsm},
      {"blk.0.ssm_ba.weight", Role::kSsm},
      {"blk.0.ssm_in.weight", Role::kSsm},
      {"blk.0.ssm_a", Role::kSsm},
      {"blk.0.ssm_dt.bias", Role::kBias},
      {"blk.0.ssm_norm.weight", Role::kNorm},
      // nemotron_h_moe Mamba-2 (ssm_a / ssm_d are 2-D [1, n_head], no ".weight")
      {"blk.0.ssm_d", Role::kSsm},
      {"blk.0.ssm_conv1d.bias", Role::kBias},
      // deepseek2 / glm4moe MLA and dense leading layers
      {"blk.0.attn_q_a.weight", Role::kAttention},
      {"blk.0.attn_q_b.weight", Role::kAttention},
      {"blk.0.attn_kv_a_mqa.weight", Role::kAttention},
      {"blk.0.attn_kv_b.weight", Role::kAttention},
      {"blk.0.attn_k_b.weight", Role::kAttention},
      {"blk.0.attn_v_b.weight", Role::kAttention},
      {"blk.0.attn_q_a_norm.weight", Role::kNorm},
      {"blk.0.attn_kv_a_norm.weight", Role::kNorm},
      {"blk.0.ffn_gate.weight", Role::kDenseFfn},
      {"blk.0.ffn_up.weight", Role::kDenseFfn},
      {"blk.0.ffn_down.weight", Role::kDenseFfn},
      // gpt-oss
      {"blk.0.attn_sinks.weight", Role::kAttention},
      {"blk.0.post_attention_norm.weight", Role::kNorm},
      // gemma4
      {"blk.0.ffn_gate_inp.scale", Role::kRouter},
      {"blk.0.ffn_down_exps.scale", Role::kRouter},
      {"blk.0.layer_output_scale.weight", Role::kNorm},
      {"blk.0.pre_ffw_norm_2.weight", Role::kNorm},
      {"blk.0.post_ffw_norm_1.weight", Role::kNorm},
      {"blk.0.post_ffw_norm.weight", Role::kNorm},
      // global tensors
      {"token_embd.weight", Role::kEmbeddings},
      {"per_layer_token_embd.weight", Role::kEmbeddings},
      {"output.weight", Role::kOutput},
      {"output_norm.weight", Role::kNorm},
      {"rope_freqs.weight", Role::kOther},
      {"blk.0.nextn.eh_proj.weight", Role::kOther},
      {"altup_proj.weight", Role::kOther},
  };
  for (const auto& [name, role] : cases) EXPECT_EQ(role_name(role_of(name)), std::string(role_name(role))) << name;
}

TEST(Roles, NamesParseBack) {
  for (const RoleInfo& r : all_roles()) {
    ASSERT_TRUE(parse_role(r.name).has_value());
    EXPECT_EQ(*parse_role(r.name), r.role);
  }
  EXPECT_FALSE(parse_role("experts").has_value());
}

TEST(Roles, GlobMatch) {
  EXPECT_TRUE(glob_match("blk.*.ffn_*_exps.weight", "blk.10.ffn_gate_up_exps.weight"));
  EXPECT_FALSE(glob_match("blk.*.ffn_*_exps.weight", "blk.10.ffn_gate_exps.bias"));
  EXPECT_TRUE(glob_match("*norm*", "blk.1.attn_q_a_norm.weight"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("a*b", "ac"));
}

}  // namespace
}  // namespace apex::plan
