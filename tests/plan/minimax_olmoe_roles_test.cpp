// Every tensor of synthetic minimax-m2 and olmoe models gets the role its
// llama.cpp name says (written out here per name, not taken from the role
// table): whole-projection q/k norm gains and exp_probs_b are never
// quantized, the router stays a router, expert stacks are routed experts.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "plan/roles.h"
#include "synth/synth.h"

namespace apex::plan {
namespace {

const std::map<std::string, Role> kBlockRoles = {
    {"attn_norm.weight", Role::kNorm},          {"attn_q.weight", Role::kAttention},
    {"attn_k.weight", Role::kAttention},        {"attn_v.weight", Role::kAttention},
    {"attn_output.weight", Role::kAttention},   {"attn_q_norm.weight", Role::kNorm},
    {"attn_k_norm.weight", Role::kNorm},        {"ffn_norm.weight", Role::kNorm},
    {"ffn_gate_inp.weight", Role::kRouter},     {"ffn_gate_exps.weight", Role::kRoutedExperts},
    {"ffn_up_exps.weight", Role::kRoutedExperts}, {"ffn_down_exps.weight", Role::kRoutedExperts},
    {"exp_probs_b.bias", Role::kBias},
};

void check(const synth::Options& o) {
  auto layout = synth::make_layout(o);
  ASSERT_TRUE(layout.ok()) << layout.message();
  const std::map<std::string, Role> global = {{"token_embd.weight", Role::kEmbeddings},
                                              {"output_norm.weight", Role::kNorm},
                                              {"output.weight", Role::kOutput}};
  for (const gguf::TensorInfo& t : layout->tensors) {
    Role want = Role::kOther;
    if (auto it = global.find(t.name); it != global.end()) {
      want = it->second;
    } else {
      const std::string suffix = t.name.substr(t.name.find('.', 4) + 1);  // after "blk.N."
      auto b = kBlockRoles.find(suffix);
      ASSERT_NE(b, kBlockRoles.end()) << t.name;
      want = b->second;
    }
    EXPECT_EQ(role_of(t.name), want) << o.arch << " " << t.name;
  }
}

TEST(MinimaxOlmoeRoles, EveryTensorOfTheSyntheticModels) {
  synth::Options o;
  o.arch = "minimax-m2";
  o.n_layer = 2, o.n_embd = 64, o.n_head = 4, o.n_head_kv = 2, o.head_dim = 32, o.n_ff = 32;
  o.n_expert = 4, o.n_vocab = 300;
  check(o);
  o.arch = "olmoe";
  o.n_head_kv = 4, o.head_dim = 0;
  check(o);
}

}  // namespace
}  // namespace apex::plan
