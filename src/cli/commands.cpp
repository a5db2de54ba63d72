#include "cli/commands.h"

#include <fmt/format.h>

#include <cstdio>

namespace apex::cli {

int fail(const std::string& message) {
  std::fprintf(stderr, "apex: %s\n", message.c_str());
  return 1;
}

std::vector<Command> all_commands() {
  return {make_quantize(), make_plan(), make_inspect(), make_synth(), make_tokenize(), make_perplexity(), make_kld(),
          make_hellaswag(), make_winogrande(), make_multiple_choice(), make_imatrix()};
}

}  // namespace apex::cli
