#include "synth/hf_tokenizer.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace apex::synth {
namespace {

using json = nlohmann::json;

constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

// Pre-tokenizers recognised by their Split patterns (in order), with the
// tokenizer.ggml.pre name llama.cpp's converter gives those models.
struct KnownPre {
  const char* name;
  std::vector<const char*> patterns;
};
const std::vector<KnownPre>& known_pre_tokenizers() {
  static const std::vector<KnownPre> table = {
      {"qwen2",
       {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"}},
      {"llama-bpe",
       {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"}},
      {"gpt-4o",
       {R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"}},
      {"deepseek-v3",
       {R"re(\p{N}{1,3})re", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
      // Qwen3.5's tokenizer (llama-vocab.cpp keeps it as the original
      // regex of the "qwen35" pre-tokenizer): letters take combining marks.
      {"qwen35",
       {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"}},
  };
  return table;
}

Result<json> read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open", path);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return make_error("{}: not valid JSON", path);
  return j;
}

// The Split patterns of a pre_tokenizer (one or a Sequence), and whether a
// ByteLevel step splits with its own (GPT-2) regex.
void collect_pre(const json& pre, std::vector<std::string>& patterns, bool& byte_level_regex) {
  if (!pre.is_object()) return;
  const std::string type = pre.value("type", "");
  if (type == "Sequence" && pre.contains("pretokenizers")) {
    for (const json& p : pre["pretokenizers"]) collect_pre(p, patterns, byte_level_regex);
  } else if (type == "Split" && pre.contains("pattern") && pre["pattern"].contains("Regex")) {
    patterns.push_back(pre["pattern"]["Regex"].get<std::string>());
  } else if (type == "ByteLevel" && pre.value("use_regex", true)) {
    byte_level_regex = true;
  }
}

Result<std::string> detect_pre(const json& tok, const std::string& path) {
  std::vector<std::string> patterns;
  bool byte_level_regex = false;
  if (tok.contains("pre_tokenizer")) collect_pre(tok["pre_tokenizer"], patterns, byte_level_regex);
  for (const KnownPre& k : known_pre_tokenizers()) {
    if (patterns.size() == k.patterns.size() && std::equal(patterns.begin(), patterns.end(), k.patterns.begin())) {
      return std::string(k.name);
    }
  }
  if (patterns.empty() && byte_level_regex) return std::string("gpt-2");
  std::string list;
  for (const auto& p : patterns) list += (list.empty() ? "" : ", ") + p;
  return make_error("{}: unknown pre-tokenizer (Split patterns: {}); known: qwen2, llama-bpe, gpt-4o, "
                    "deepseek-v3, qwen35, gpt-2",
                    path, list.empty() ? "none" : list);
}

// convert_hf_to_gguf.py's does_token_look_special.
bool looks_special(const std::string& t) {
  auto starts = [&](std::string_view p) { return t.rfind(p, 0) == 0; };
  auto ends = [&](std::string_view s) { return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0; };
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  if (starts("<|") && ends("|>")) return true;
  if (starts("<｜") && ends("｜>")) return true;
  return starts("<unused") && ends(">");
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// tokenizer_config.json's "<typ>_token": a string or {"content": ...}.
std::optional<std::string> config_token(const json& config, const std::string& typ) {
  if (!config.is_object() || !config.contains(typ + "_token")) return std::nullopt;
  const json& e = config[typ + "_token"];
  if (e.is_string()) return e.get<std::string>();
  if (e.is_object() && e.contains("content") && e["content"].is_string()) return e["content"].get<std::string>();
  return std::nullopt;
}

// SpecialVocab: special ids and add-flags, as gguf-py computes them.
void special_vocab(const json& tok, json config, size_t n_vocab, HfVocab& v) {
  const json added = tok.value("added_tokens", json::array());
  // A missing BOS falls back to CLS, a missing EOS to SEP.
  if (config.is_object()) {
    if (!config_token(config, "bos") && config_token(config, "cls")) config["bos_token"] = *config_token(config, "cls");
    if (!config_token(config, "eos") && config_token(config, "sep")) config["eos_token"] = *config_token(config, "sep");
  }
  std::map<std::string, bool> add;
  std::vector<std::string> add_order;
  auto set_add = [&](const std::string& typ, bool value) {
    if (!add.count(typ)) add_order.push_back(typ);
    add[typ] = value;
  };
  // The post-processor's single-sequence template: a leading BOS/CLS and a
  // trailing EOS mean they are added.
  if (tok.contains("post_processor") && tok["post_processor"].is_object()) {
    const json& pp = tok["post_processor"];
    const json procs = pp.contains("processors") ? pp["processors"] : json::array({pp});
    for (const json& p : procs) {
      const std::string type = p.value("type", "");
      if (type == "RobertaProcessing") {
        set_add("bos", true);
        set_add("eos", true);
        set_add("sep", true);
      } else if (type == "TemplateProcessing" && p.contains("single") && p["single"].size() > 1) {
        const json& single = p["single"];
        auto special_id = [](const json& item) -> std::optional<std::string> {
          if (item.contains("SpecialToken")) return item["SpecialToken"].value("id", "");
          return std::nullopt;
        };
        if (auto first = special_id(single.front())) {
          const auto bos = config_token(config, "bos"), cls = config_token(config, "cls");
          set_add("bos", (bos && *bos == *first) || (cls && *cls == *first));
        }
        if (auto last = special_id(single.back())) {
          const auto eos = config_token(config, "eos");
          set_add("eos", eos && *eos == *last);
        }
      }
    }
  }
  static const char* kTypes[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
  static const std::map<std::string, std::string> kKey = {
      {"bos", "bos"}, {"eos", "eos"}, {"unk", "unknown"}, {"sep", "seperator"}, {"pad", "padding"}, {"mask", "mask"}};
  for (const char* typ : kTypes) {
    if (config.is_object() && config.contains(std::string("add_") + typ + "_token") &&
        config[std::string("add_") + typ + "_token"].is_boolean()) {
      set_add(typ, config[std::string("add_") + typ + "_token"].get<bool>());
    }
    const auto content = config_token(config, typ);
    if (!content) continue;
    for (const json& a : added) {
      if (a.value("content", "") != *content || !a.contains("id")) continue;
      const int64_t id = a["id"].get<int64_t>();
      // The writer has no key for CLS.
      if (id >= 0 && static_cast<size_t>(id) < n_vocab && kKey.count(typ)) {
        v.special_ids.emplace_back(kKey.at(typ), static_cast<uint32_t>(id));
      }
      break;
    }
  }
  for (const std::string& typ : add_order) {
    if (typ == "bos" || typ == "eos" || typ == "sep") v.add_flags.emplace_back(typ, add[typ]);
  }
}

}  // namespace

Result<HfVocab> load_hf_tokenizer(const std::string& tokenizer_json, const std::string& config_path) {
  APEX_ASSIGN_OR_RETURN(json tok, read_json(tokenizer_json));
  json config;
  std::string cfg = config_path;
  if (cfg.empty()) {
    const auto sibling = std::filesystem::path(tokenizer_json).parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(sibling)) cfg = sibling.string();
  }
  if (!cfg.empty()) {
    APEX_ASSIGN_OR_RETURN(config, read_json(cfg));
  }
  if (!tok.contains("model") || tok["model"].value("type", "") != "BPE" || !tok["model"].contains("vocab")) {
    return make_error("{}: only BPE tokenizers (model.type \"BPE\") are supported", tokenizer_json);
  }
  const json& model = tok["model"];
  const json added = tok.value("added_tokens", json::array());

  // id -> text over the base vocabulary and the added tokens.
  std::map<int64_t, std::string> by_id;
  for (const auto& [text, id] : model["vocab"].items()) by_id[id.get<int64_t>()] = text;
  const size_t base_size = by_id.size();
  std::map<std::string, const json*> added_by_text;
  for (const json& a : added) {
    by_id[a["id"].get<int64_t>()] = a["content"].get<std::string>();
    added_by_text[a["content"].get<std::string>()] = &a;
  }
  if (by_id.empty() || by_id.begin()->first < 0) return make_error("{}: empty or negative vocabulary", tokenizer_json);

  HfVocab v;
  const bool byte_fallback = model.value("byte_fallback", false);
  const bool spm_decoder = tok.contains("decoder") && tok["decoder"].is_object() &&
                           tok["decoder"].value("type", "") == "Sequence";
  if (byte_fallback && spm_decoder) {
    // LlamaHfVocab: base ids in order, then the added tokens beyond them.
    v.model = "llama";
    v.pre = "default";
    std::set<int64_t> special_ids;
    for (const char* typ : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
      if (auto content = config_token(config, typ)) {
        if (model["vocab"].contains(*content)) special_ids.insert(model["vocab"][*content].get<int64_t>());
        else if (added_by_text.count(*content)) special_ids.insert((*added_by_text[*content])["id"].get<int64_t>());
      }
    }
    static const std::regex kByteToken("<0x[0-9A-Fa-f]{2}>");
    for (size_t id = 0; id < base_size; ++id) {
      auto it = by_id.find(static_cast<int64_t>(id));
      if (it == by_id.end()) return make_error("{}: base vocabulary has no id {}", tokenizer_json, id);
      v.tokens.push_back(it->second);
      v.scores.push_back(-1000.0f);
      v.types.push_back(std::regex_match(it->second, kByteToken) ? kByte
                        : special_ids.count(static_cast<int64_t>(id)) ? kControl
                                                                      : kNormal);
    }
    for (const auto& [id, text] : by_id) {
      if (id < static_cast<int64_t>(base_size)) continue;
      v.tokens.push_back(text);
      v.scores.push_back(-1000.0f);
      v.types.push_back(special_ids.count(id) ? kControl : kUserDefined);
    }
  } else {
    v.model = "gpt2";
    APEX_ASSIGN_OR_RETURN(v.pre, detect_pre(tok, tokenizer_json));
    const size_t n = by_id.size();
    if (static_cast<size_t>(by_id.rbegin()->first) >= n) {
      return make_error("{}: token id {} beyond the vocabulary size {}", tokenizer_json, by_id.rbegin()->first, n);
    }
    for (size_t id = 0; id < n; ++id) {
      auto it = by_id.find(static_cast<int64_t>(id));
      if (it == by_id.end()) {
        v.tokens.push_back(fmt::format("[PAD{}]", id));
        v.types.push_back(kUnused);
        continue;
      }
      std::string text = it->second;
      auto a = added_by_text.find(text);
      if (a != added_by_text.end()) {
        if (a->second->value("special", false) || looks_special(text)) {
          v.types.push_back(kControl);
        } else {
          text = replace_all(text, "\xe2\x96\x81", " ");  // pre-normalized user-defined spaces
          v.types.push_back(kUserDefined);
        }
      } else {
        v.types.push_back(kNormal);
      }
      v.tokens.push_back(std::move(text));
    }
    if (model.contains("merges")) {
      for (const json& m : model["merges"]) {
        if (m.is_string()) {
          v.merges.push_back(m.get<std::string>());
        } else if (m.is_array() && m.size() == 2) {
          // A space inside a part is written as U+0120, as gguf-py does.
          v.merges.push_back(replace_all(m[0].get<std::string>(), " ", "\xc4\xa0") + " " +
                             replace_all(m[1].get<std::string>(), " ", "\xc4\xa0"));
        } else {
          return make_error("{}: unknown merges format", tokenizer_json);
        }
      }
    }
  }
  special_vocab(tok, config, v.tokens.size(), v);
  return v;
}

void add_hf_vocab_metadata(const HfVocab& vocab, gguf::Layout& l) {
  l.set("tokenizer.ggml.model", gguf::Value(vocab.model));
  l.set("tokenizer.ggml.pre", gguf::Value(vocab.pre));
  gguf::Array tokens{gguf::ValueType::STRING, {}};
  tokens.elems.reserve(vocab.tokens.size());
  for (const auto& t : vocab.tokens) tokens.elems.emplace_back(t);
  l.set("tokenizer.ggml.tokens", gguf::Value(std::move(tokens)));
  if (!vocab.scores.empty()) {
    gguf::Array scores{gguf::ValueType::FLOAT32, {}};
    for (const float s : vocab.scores) scores.elems.emplace_back(s);
    l.set("tokenizer.ggml.scores", gguf::Value(std::move(scores)));
  }
  gguf::Array types{gguf::ValueType::INT32, {}};
  for (const int32_t t : vocab.types) types.elems.emplace_back(t);
  l.set("tokenizer.ggml.token_type", gguf::Value(std::move(types)));
  if (!vocab.merges.empty()) {
    gguf::Array merges{gguf::ValueType::STRING, {}};
    merges.elems.reserve(vocab.merges.size());
    for (const auto& m : vocab.merges) merges.elems.emplace_back(m);
    l.set("tokenizer.ggml.merges", gguf::Value(std::move(merges)));
  }
  for (const auto& [key, id] : vocab.special_ids) {
    l.set("tokenizer.ggml." + key + "_token_id", gguf::Value(id));
  }
  for (const auto& [typ, value] : vocab.add_flags) {
    l.set("tokenizer.ggml.add_" + typ + "_token", gguf::Value(value));
  }
}

}  // namespace apex::synth
