#include "plan/roles.h"

#include "util/strings.h"

namespace apex::plan {
namespace {

constexpr RoleInfo kRoles[] = {
    {Role::kRoutedExperts, "routed_experts", "routed expert FFN (ffn_*_exps)"},
    {Role::kSharedExperts, "shared_experts", "shared expert FFN (ffn_*_shexp)"},
    {Role::kAttention, "attention", "attention projections (attn_*)"},
    {Role::kSsm, "ssm", "SSM / linear attention (ssm_*)"},
    {Role::kDenseFfn, "dense_ffn", "dense FFN layers (ffn_gate/up/down)"},
    {Role::kRouter, "router", "expert router and routing biases (never quantized)"},
    {Role::kBias, "bias", "biases (never quantized)"},
    {Role::kNorm, "norm", "norms (never quantized)"},
    {Role::kEmbeddings, "embeddings", "token embeddings"},
    {Role::kOutput, "output", "output projection (lm head)"},
    {Role::kOther, "other", "not recognised: the base ftype's rule"},
};

struct RolePattern {
  const char* glob;
  Role role;
};

// First match wins, so the narrow patterns (biases, norms, routers) come
// before the broad ones they would otherwise fall into: "ffn_norm_exps" is a
// norm, "ffn_gate_inp_shexp" a router, "attn_q_norm" a norm.
constexpr RolePattern kPatterns[] = {
    {"*.bias", Role::kBias},
    {"*norm*", Role::kNorm},
    {"blk.*.ffn_gate_inp.weight", Role::kRouter},
    {"blk.*.ffn_gate_inp_shexp.weight", Role::kRouter},
    {"blk.*.exp_probs_b*", Role::kRouter},
    {"blk.*.ffn_*_exps.weight", Role::kRoutedExperts},
    {"blk.*.ffn_*_chexps.weight", Role::kRoutedExperts},
    {"blk.*.ffn_*_shexp.weight", Role::kSharedExperts},
    {"blk.*.ffn_gate.weight", Role::kDenseFfn},
    {"blk.*.ffn_up.weight", Role::kDenseFfn},
    {"blk.*.ffn_down.weight", Role::kDenseFfn},
    {"blk.*.attn_*", Role::kAttention},
    {"blk.*.ssm_*", Role::kSsm},
    {"token_embd.weight", Role::kEmbeddings},
    {"per_layer_token_embd.weight", Role::kEmbeddings},
    {"output.weight", Role::kOutput},
    // gemma4: the router's input scale and the per-expert output scale
    // weigh routing like the router's own weights; the per-block output
    // scale is a gain like a norm's.
    {"blk.*.ffn_gate_inp.scale", Role::kRouter},
    {"blk.*.ffn_*_exps.scale", Role::kRouter},
    {"blk.*.layer_output_scale.weight", Role::kNorm},
};

}  // namespace

std::span<const RoleInfo> all_roles() { return kRoles; }

const char* role_name(Role role) { return kRoles[static_cast<int>(role)].name; }

std::optional<Role> parse_role(std::string_view name) {
  for (const RoleInfo& r : kRoles) {
    if (iequals(name, r.name)) return r.role;
  }
  return std::nullopt;
}

std::string role_name_list() {
  std::string out;
  for (const RoleInfo& r : kRoles) out += (out.empty() ? "" : ", ") + std::string(r.name);
  return out;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative wildcard match with one backtrack point: linear in practice
  // for the short patterns of the role table.
  size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Role role_of(std::string_view tensor_name) {
  for (const RolePattern& rp : kPatterns) {
    if (glob_match(rp.glob, tensor_name)) return rp.role;
  }
  return Role::kOther;
}

}  // namespace apex::plan
