// Registry of CLI subcommands. A subcommand file defines a make_<name>()
// returning a Command; all_commands() in commands.cpp lists them.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace apex::cli {

struct Command {
  // Adds the subcommand and its flags to the app; returns the subcommand.
  std::function<CLI::App*(CLI::App&)> setup;
  // Runs after parsing; returns the process exit code.
  std::function<int()> run;
};

std::vector<Command> all_commands();

Command make_inspect();
Command make_plan();
Command make_quantize();
Command make_synth();
Command make_tokenize();
Command make_perplexity();
Command make_kld();
Command make_hellaswag();
Command make_winogrande();
Command make_multiple_choice();
Command make_imatrix();

// Prints "apex: <message>" on one line to stderr and returns exit code 1.
int fail(const std::string& message);

}  // namespace apex::cli
