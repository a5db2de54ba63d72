// Small string helpers shared by the name parsers (types, ftypes, profiles).
#pragma once

#include <cctype>
#include <string_view>

namespace apex {

// ASCII case-insensitive equality: "q4_k_m" names the same thing as "Q4_K_M".
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace apex
