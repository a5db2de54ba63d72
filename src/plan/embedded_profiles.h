// The profile files of data/profiles/, compiled into the binary by a CMake
// step (see CMakeLists.txt), so an installed `apex` needs no data folder.
#pragma once

#include <span>
#include <string_view>

namespace apex::plan {

struct EmbeddedProfile {
  std::string_view file_name;  // "quality.profile"
  std::string_view text;
};

// In file-name order.
std::span<const EmbeddedProfile> embedded_profiles();

}  // namespace apex::plan
