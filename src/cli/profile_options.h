// The flags that choose an APEX profile, shared by `apex plan` and
// `apex quantize`: --profile NAME|FILE|custom, --base-ftype, and
// generate_config.sh's per-class flags for --profile custom.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "plan/ftype.h"
#include "plan/profile.h"
#include "util/status.h"

namespace apex::cli {

struct ProfileArgs {
  std::string profile;     // empty: no profile
  std::string base_ftype;  // empty: the profile's
  plan::CustomTypes custom;
};

void add_profile_options(CLI::App* sub, ProfileArgs& args);

// The profile named by the flags (built-in, file, or custom). Per-class
// flags without --profile custom are an error, as they would be ignored.
Result<plan::Profile> resolve_profile(const ProfileArgs& args);

// --base-ftype, or null when not given.
Result<const plan::FtypeInfo*> resolve_base_override(const ProfileArgs& args);

}  // namespace apex::cli
