// Tensor roles: what a tensor does in a Mixture-of-Experts model, derived
// from its GGUF name alone. APEX gives each role its own precision (routed
// experts tolerate little, shared experts and attention need more), so the
// planner and `apex plan` first put every tensor into one role.
//
// The roles are a data table of name patterns (roles.cpp), written against
// llama.cpp's tensor names (src/llama-arch.cpp), which every architecture
// shares: qwen2moe/qwen3moe, the qwen3next / qwen35moe hybrids (Gated
// DeltaNet: attn_qkv, attn_gate, ssm_*), deepseek2 / glm4moe (MLA's attn_q_a,
// attn_kv_a_mqa, attn_kv_b; dense leading layers), gpt-oss (attn_sinks,
// expert biases), mixtral-style llama, olmoe, granitemoe, gemma4, nemotron-h,
// minimax. A name no pattern covers is kOther and keeps the base ftype's rule.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace apex::plan {

enum class Role {
  kRoutedExperts,  // blk.N.ffn_{gate,up,down,gate_up}_exps: the bulk of an MoE
  kSharedExperts,  // blk.N.ffn_{gate,up,down}_shexp: always active
  kAttention,      // blk.N.attn_{q,k,v,output,qkv,gate}, MLA's q_a/q_b/kv_a_mqa/kv_b/k_b/v_b
  kSsm,            // blk.N.ssm_*: Mamba / Gated DeltaNet linear attention
  kDenseFfn,       // blk.N.ffn_{gate,up,down}: dense FFN layers (deepseek's first layers)
  kRouter,         // blk.N.ffn_gate_inp*, exp_probs_b: routing, never quantized
  kBias,           // *.bias: 1-D, never quantized
  kNorm,           // *norm*: 1-D, never quantized
  kEmbeddings,     // token_embd, per_layer_token_embd
  kOutput,         // output.weight
  kOther,          // anything else: the base ftype's rule applies
};

struct RoleInfo {
  Role role;
  const char* name;         // profile-file spelling: "routed_experts"
  const char* description;  // for `apex plan` and --help
};

// Every role in enum order.
std::span<const RoleInfo> all_roles();
const char* role_name(Role role);
// By profile-file spelling (case-insensitive); nullopt when unknown.
std::optional<Role> parse_role(std::string_view name);
// Comma-separated role names, for errors.
std::string role_name_list();

// The role of a tensor, from the first pattern in the table that matches.
Role role_of(std::string_view tensor_name);

// Glob match used by the role table: '*' matches any run of characters
// (dots included), everything else matches itself; the whole name must match.
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace apex::plan
