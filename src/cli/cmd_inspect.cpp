// apex inspect FILE [--json]: metadata and tensor table of a GGUF file.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "pipeline/inspect.h"

namespace apex::cli {

Command make_inspect() {
  struct Args {
    std::string path;
    bool json = false;
    size_t max_items = 8;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "inspect",
        "Show a GGUF file's metadata (arrays abbreviated) and a tensor table:\n"
        "name, type, shape, bytes and bits per weight, with totals per type.");
    sub->add_option("file", args->path, "GGUF file")->required();
    sub->add_flag("--json", args->json, "machine-readable output");
    sub->add_option("--max-array-items", args->max_items,
                    "array elements shown before abbreviating (default 8)");
    return sub;
  };
  c.run = [args]() {
    auto summary = pipeline::inspect_file(args->path, args->max_items);
    if (!summary.ok()) return fail(summary.message());
    if (args->json) {
      fmt::print("{}\n", pipeline::to_json(*summary).dump(2));
    } else {
      fmt::print("{}", pipeline::format_text(*summary));
    }
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{30, make_inspect};

}  // namespace apex::cli
