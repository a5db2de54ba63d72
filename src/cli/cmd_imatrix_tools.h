// The file tools under `apex imatrix`: info, merge and convert (CLI11
// subcommands of the imatrix subcommand).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace apex::cli {

struct ImatrixTools {
  CLI::App* info = nullptr;
  CLI::App* merge = nullptr;
  CLI::App* convert = nullptr;
  std::vector<std::string> inputs;
  std::string output, format;
  int32_t chunk_size = 0;
  int64_t experts = 0;
  bool json = false;
};

void add_imatrix_tools(CLI::App* imatrix, ImatrixTools& t);
// The exit code when one of the tools was asked for, else nothing.
std::optional<int> run_imatrix_tools(const ImatrixTools& t);

}  // namespace apex::cli
