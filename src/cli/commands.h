// Registry of CLI subcommands. Each subcommand lives in its own cmd_<name>.cpp,
// defines a make_<name>() returning a Command and registers it with
//
//   static const CommandRegistration kRegistered{50, make_<name>};
//
// so adding a subcommand touches no shared file. The rank orders `apex --help`
// (lower first); the files are linked straight into the executable, so the
// static registrations always run.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace apex::cli {

struct Command {
  // Adds the subcommand and its flags to the app; returns the subcommand.
  std::function<CLI::App*(CLI::App&)> setup;
  // Runs after parsing; returns the process exit code.
  std::function<int()> run;
};

// Every registered command, ordered by rank (ties by registration order).
std::vector<Command> all_commands();

struct CommandRegistration {
  CommandRegistration(int rank, Command (*make)());
};

// Prints "apex: <message>" on one line to stderr and returns exit code 1.
int fail(const std::string& message);

}  // namespace apex::cli
