// apex command line: each subcommand parses its flags, calls one library
// function and prints human text or --json. Subcommands register themselves
// in commands.h.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "util/temp_files.h"

int main(int argc, char** argv) {
  apex::install_temp_file_cleanup();
  CLI::App app{
      "apex: MoE-aware mixed-precision quantization of GGUF models (APEX).\n"
      "Every tensor gets its own llama.cpp quantization type by role and layer;\n"
      "files load in stock llama.cpp."};
  app.require_subcommand(1);
  app.set_version_flag("--version", APEX_VERSION);
  std::vector<apex::cli::Command> commands = apex::cli::all_commands();
  std::vector<CLI::App*> subs;
  for (auto& c : commands) subs.push_back(c.setup(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    if (subs[i]->parsed()) return commands[i].run();
  }
  return 1;
}
