#include "cli/commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace apex::cli {

namespace {
// Function-local static: registrations run during static initialisation of
// other translation units, in an unspecified order.
std::vector<std::pair<int, Command (*)()>>& registry() {
  static std::vector<std::pair<int, Command (*)()>> entries;
  return entries;
}
}  // namespace

CommandRegistration::CommandRegistration(int rank, Command (*make)()) { registry().emplace_back(rank, make); }

int fail(const std::string& message) {
  std::fprintf(stderr, "apex: %s\n", message.c_str());
  return 1;
}

std::vector<Command> all_commands() {
  auto entries = registry();
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Command> commands;
  for (const auto& [rank, make] : entries) commands.push_back(make());
  return commands;
}

}  // namespace apex::cli
