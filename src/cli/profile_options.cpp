#include "cli/profile_options.h"

#include "util/strings.h"

namespace apex::cli {

void add_profile_options(CLI::App* sub, ProfileArgs& a) {
  std::string names;
  for (const auto& n : plan::builtin_profile_names()) names += (names.empty() ? "" : ", ") + n;
  sub->add_option("--profile,-p", a.profile,
                  "APEX tier: " + names + "; 'custom' (with the per-class flags below); or a profile file");
  sub->add_option("--base-ftype", a.base_ftype, "replace the profile's base ftype (quantize.sh's --base-type)");
  const char* group = "--profile custom (generate_config.sh's flags)";
  sub->add_option("--edge-exp", a.custom.edge_experts, "routed experts in edge layers (required)")->group(group);
  sub->add_option("--near-exp", a.custom.near_experts, "routed experts in near-edge layers (default: --edge-exp)")
      ->group(group);
  sub->add_option("--mid-exp", a.custom.mid_experts, "routed experts in middle layers (default: --edge-exp)")
      ->group(group);
  sub->add_option("--edge-shared", a.custom.edge_shared, "shared experts in edge layers (default Q8_0)")->group(group);
  sub->add_option("--mid-shared", a.custom.mid_shared, "shared experts elsewhere (default: --edge-shared)")
      ->group(group);
  sub->add_option("--edge-attn", a.custom.edge_attn, "attention/SSM in attention-edge layers (default Q6_K)")
      ->group(group);
  sub->add_option("--mid-attn", a.custom.mid_attn, "attention/SSM elsewhere (default: --edge-attn)")->group(group);
}

Result<plan::Profile> resolve_profile(const ProfileArgs& a) {
  const auto& c = a.custom;
  const bool any_custom = !c.edge_experts.empty() || !c.near_experts.empty() || !c.mid_experts.empty() ||
                          !c.edge_shared.empty() || !c.mid_shared.empty() || !c.edge_attn.empty() ||
                          !c.mid_attn.empty();
  if (iequals(a.profile, "custom")) return plan::custom_profile(c);
  if (any_custom) return make_error("--edge-exp, --mid-exp, ... need --profile custom");
  return plan::load_profile(a.profile);
}

Result<const plan::FtypeInfo*> resolve_base_override(const ProfileArgs& a) {
  if (a.base_ftype.empty()) return static_cast<const plan::FtypeInfo*>(nullptr);
  auto f = plan::parse_ftype(a.base_ftype);
  if (!f.ok()) return make_error("--base-ftype: {}", f.message());
  if ((*f)->only_copy) return make_error("--base-ftype: COPY cannot be a profile's base");
  return *f;
}

}  // namespace apex::cli
