#include "engine/tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <set>

namespace apex::tok {
namespace {

// ---- pre-tokenizers (patterns as llama.cpp's src/llama-vocab.cpp lists them)

constexpr const char* kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
constexpr const char* kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen35 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kTekken =
    R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kDeepseekV3Words =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kPoro = R"re( ?[^(\s|.,!?…。，、।۔،)]+)re";

struct PreTokenizer {
  std::vector<const char*> names;
  std::vector<const char*> regexes;
  bool clean_spaces = true;  // llama.cpp's default for BPE vocabularies
  bool ignore_merges = false;
  bool add_bos = false;
  bool no_default_bos = false;  // no BOS unless tokenizer.ggml.bos_token_id names one
  bool sp_whitespace = false;   // gemma4: Vocab::escape_whitespaces, raw UTF-8, whole newline runs
  bool force_add_bos = false;   // BOS is added whatever add_bos_token says
};

const std::vector<PreTokenizer>& pre_tokenizers() {
  static const std::vector<PreTokenizer> table = {
      {{"default"},
       {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", R"re([0-9][0-9][0-9])re"}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
        "jina-v5-nano"},
       {kLlama3}, true, true, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}},
      {{"deepseek-llm"},
       {"[\r\n]",
        R"re(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)re",
        "\\s?[!-/:-~！-／：-～‘-‟\u3000-。]+", R"re(\s+$)re", "[一-龥ࠀ-一가-\uD7FF]+",
        R"re(\p{N}+)re"},
       false},
      {{"deepseek-coder"},
       {"[\r\n]", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", "[一-龥ࠀ-一가-\uD7FF]+", R"re(\p{N})re"},
       false},
      {{"deepseek-v3"}, {R"re(\p{N}{1,3})re", "[一-龥\u3040-ゟ゠-ヿ]+", kDeepseekV3Words}, false},
      {{"falcon"},
       {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, R"re([0-9][0-9][0-9])re"}},
      {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"},
       {R"re(\p{N})re", kGpt2}},
      {{"command-r", "smollm"}, {R"re(\p{N})re", kGpt2}, false},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
        "mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4"},
       {kGpt2}},
      {{"trillion", "granite-docling"}, {kGpt2}, false},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"}, {kQwen2}, false},
      {{"megrez", "stablelm2"}, {kQwen2}},
      {{"qwen35"}, {kQwen35}, false},
      {{"poro-chat"}, {kPoro}, false},
      {{"bloom", "gpt3-finnish"}, {kPoro}},
      {{"viking"}, {kPoro, R"re(\p{N})re"}, false},
      {{"tekken"}, {kTekken}, false, true},
      {{"gpt-4o", "llama4", "kanana2", "talkie"}, {kGpt4o}, false},
      // GLM-4 uses Llama 3's split and clears the default BOS.
      {.names = {"glm4", "chatglm-bpe"}, .regexes = {kLlama3}, .no_default_bos = true},
      {{"minimax-m2"}, {kGpt4o}, false},
      // Gemma 4: the whole line (spaces already U+2581) is one word; only
      // newline runs are cut off, since merges never span a newline.
      {.names = {"gemma4", "granite-embed-multi-311m"},
       .regexes = {"[^\\n]+|[\\n]+"},
       .sp_whitespace = true,
       .force_add_bos = true},
  };
  return table;
}

// Texts llama.cpp recognises at load time (src/llama-vocab.cpp).
constexpr std::array kEotTexts = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                  "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
                                  "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::array kEomTexts = {"<|eom_id|>"};
constexpr std::array kFimPreTexts = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>",
                                     "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"};
constexpr std::array kFimSufTexts = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>",
                                     "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"};
constexpr std::array kFimMidTexts = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>",
                                     "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"};
constexpr std::array kFimPadTexts = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::array kFimRepTexts = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::array kFimSepTexts = {"<|file_sep|>"};
constexpr std::array kEogTexts = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
                                  "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
                                  "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
                                  "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
                                  "<｜end▁of▁sentence｜>", "[e~["};
// gpt-oss's harmony markers, which llama.cpp always renders and parses.
constexpr std::array kAlwaysUserDefined = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

uint32_t attr_of_type(int32_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::kUnknown: return kAttrUnknown;
    case TokenType::kUnused: return kAttrUnused;
    case TokenType::kNormal: return kAttrNormal;
    case TokenType::kControl: return kAttrControl;
    case TokenType::kUserDefined: return kAttrUserDefined;
    case TokenType::kByte: return kAttrByte;
    default: return kAttrUndefined;
  }
}

const gguf::Array* find_array(const gguf::File& f, std::string_view key) {
  const gguf::KeyValue* kv = f.find(key);
  return kv ? kv->value.get_if<gguf::Array>() : nullptr;
}

bool get_bool(const gguf::File& f, std::string_view key, bool& out) {
  const gguf::KeyValue* kv = f.find(key);
  if (!kv) return false;
  if (const bool* b = kv->value.get_if<bool>()) {
    out = *b;
    return true;
  }
  return false;
}

// The id of the first text of `texts` present in the vocabulary (lowest id
// on ties; llama.cpp takes whichever its hash map yields first).
template <size_t N>
int32_t find_first(const Vocab& v, const std::array<const char*, N>& texts) {
  int32_t best = kNoToken;
  for (const char* t : texts) {
    const int32_t id = v.find(t);
    if (id != kNoToken && (best == kNoToken || id < best)) best = id;
  }
  return best;
}

// llama.cpp's load-time attribute fix-ups, in its order.
void apply_attribute_fixups(Vocab& v) {
  std::set<int32_t> eog;
  auto mark_control = [&](int32_t id) {
    if (id != kNoToken) v.attrs[id] |= kAttrControl;
  };
  v.eot = find_first(v, kEotTexts);
  mark_control(v.eot);
  const int32_t eom = find_first(v, kEomTexts);
  mark_control(eom);
  for (const auto id : {find_first(v, kFimPreTexts), find_first(v, kFimSufTexts),
                        find_first(v, kFimMidTexts)}) {
    mark_control(id);
  }
  const int32_t fim_pad = find_first(v, kFimPadTexts);
  const int32_t fim_rep = find_first(v, kFimRepTexts);
  const int32_t fim_sep = find_first(v, kFimSepTexts);
  for (const auto id : {fim_pad, fim_rep, fim_sep}) {
    mark_control(id);
    if (id != kNoToken) eog.insert(id);
  }
  for (int32_t id = 0; id < v.n_tokens(); ++id) {
    if ((v.attrs[id] & kAttrControl) && v.tokens[id].find("unused") != std::string::npos) {
      v.attrs[id] |= kAttrUnused;
    }
  }
  for (const char* t : kEogTexts) {
    const int32_t id = v.find(t);
    if (id == kNoToken) continue;
    eog.insert(id);
    mark_control(id);
  }
  for (const char* t : kAlwaysUserDefined) {
    const int32_t id = v.find(t);
    if (id != kNoToken) v.attrs[id] = kAttrUserDefined;
  }
  for (const auto id : {v.eos, v.eot, eom}) {
    if (id != kNoToken) eog.insert(id);
  }
  // Harmony (gpt-oss) and solar-open: "<|end|>" ends a message, not the
  // generation, and is rendered like text.
  bool has_return = false, has_call = false, has_flush = false;
  int32_t end_id = kNoToken;
  for (const int32_t id : eog) {
    const std::string& t = v.tokens[id];
    if (t == "<|return|>") has_return = true;
    else if (t == "<|call|>" || t == "<|calls|>") has_call = true;
    else if (t == "<|flush|>") has_flush = true;
    else if (t == "<|end|>") end_id = id;
  }
  if (end_id != kNoToken && ((has_return && has_call) || (has_call && has_flush))) {
    v.attrs[end_id] = kAttrUserDefined;
  }
}

}  // namespace

int32_t Vocab::find(std::string_view text) const {
  auto it = token_to_id.find(text);
  return it == token_to_id.end() ? kNoToken : it->second;
}

int32_t Vocab::merge_rank(const std::string& left, const std::string& right) const {
  // A merge "a b c" is the pair ("a", "b c"): the separator is the first
  // space after the first character. So a left part holding such a space can
  // never be found.
  if (left.empty() || left.find(' ', 1) != std::string::npos) return -1;
  std::string key;
  key.reserve(left.size() + 1 + right.size());
  key.append(left).push_back(' ');
  key.append(right);
  auto it = merges.find(key);
  return it == merges.end() ? -1 : it->second;
}

int32_t Vocab::byte_token_hex(uint8_t byte) const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char buf[7] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>', 0};
  return find(buf);
}

int32_t Vocab::byte_token(uint8_t byte) const {
  const int32_t id = byte_token_hex(byte);
  if (id != kNoToken) return id;
  const char raw = static_cast<char>(byte);
  return find(std::string_view(&raw, 1));
}

bool configure_pre_tokenizer(const std::string& pre, Vocab& vocab, std::vector<std::string>& regexes,
                             bool& force_add_bos) {
  // Without a name llama.cpp warns and uses "default".
  const std::string name = pre.empty() ? "default" : pre;
  for (const PreTokenizer& p : pre_tokenizers()) {
    if (std::find(p.names.begin(), p.names.end(), name) == p.names.end()) continue;
    regexes.assign(p.regexes.begin(), p.regexes.end());
    vocab.clean_spaces = p.clean_spaces;
    vocab.ignore_merges = p.ignore_merges;
    vocab.add_bos = p.add_bos;
    if (p.no_default_bos) vocab.bos = kNoToken;
    vocab.escape_whitespaces = p.sp_whitespace;
    vocab.byte_encode = !p.sp_whitespace;
    vocab.whole_newline_runs = p.sp_whitespace;
    force_add_bos = p.force_add_bos;
    return true;
  }
  return false;
}

Result<Vocab> load_vocab(const gguf::File& file) {
  const std::string& path = file.path();
  Vocab v;
  bool force_add_bos = false;
  if (!file.get_string("tokenizer.ggml.model", v.model)) {
    return make_error("{}: no tokenizer.ggml.model", path);
  }
  file.get_string("tokenizer.ggml.pre", v.pre);

  if (v.model == "llama") {
    v.type = VocabType::kSpm;
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
    v.add_space_prefix = true;
    v.add_bos = true;
  } else if (v.model == "gpt2" || v.model == "gemma4") {
    v.type = VocabType::kBpe;
    if (v.model == "gpt2") {
      v.bos = 11;  // llama.cpp's defaults for BPE vocabularies
      v.eos = 11;
    } else {
      v.pre = "gemma4";  // the model kind implies its pre-tokenizer; no default special ids
    }
    std::vector<std::string> patterns;
    if (!configure_pre_tokenizer(v.pre, v, patterns, force_add_bos)) {
      return make_error("{}: pre-tokenizer '{}' (tokenizer.ggml.pre) is not supported", path, v.pre);
    }
    for (const std::string& p : patterns) {
      auto re = Regex::compile(p);
      if (!re.ok()) return make_error("{}: {}", path, re.message());
      v.pre_regexes.push_back(std::move(*re));
    }
    const gguf::Array* merges = find_array(file, "tokenizer.ggml.merges");
    if (!merges || merges->elem_type != gguf::ValueType::STRING) {
      return make_error("{}: tokenizer.ggml.merges missing or not a string array", path);
    }
    v.merges.reserve(merges->elems.size());
    for (size_t i = 0; i < merges->elems.size(); ++i) {
      const std::string& m = *merges->elems[i].get_if<std::string>();
      // A merge without a separator is the pair ("", ""), never looked up.
      if (m.find(' ', 1) == std::string::npos) continue;
      v.merges.emplace(m, static_cast<int32_t>(i));  // the first rank of a duplicate wins
    }
  } else {
    return make_error("{}: tokenizer model '{}' (tokenizer.ggml.model) is not supported", path, v.model);
  }
  get_bool(file, "tokenizer.ggml.add_space_prefix", v.add_space_prefix);

  const gguf::Array* tokens = find_array(file, "tokenizer.ggml.tokens");
  if (!tokens || tokens->elem_type != gguf::ValueType::STRING) {
    return make_error("{}: tokenizer.ggml.tokens missing or not a string array", path);
  }
  const size_t n = tokens->elems.size();
  const gguf::Array* scores = find_array(file, "tokenizer.ggml.scores");
  if (scores && ((scores->elem_type != gguf::ValueType::FLOAT32 && scores->elem_type != gguf::ValueType::INT32) ||
                 scores->elems.size() < n)) {
    return make_error("{}: tokenizer.ggml.scores has the wrong type or too few entries", path);
  }
  const gguf::Array* types = find_array(file, "tokenizer.ggml.token_type");
  if (types && (types->elem_type != gguf::ValueType::INT32 || types->elems.size() < n)) {
    return make_error("{}: tokenizer.ggml.token_type has the wrong type or too few entries", path);
  }
  v.tokens.resize(n);
  v.scores.assign(n, 0.0f);
  v.attrs.assign(n, kAttrNormal);
  v.token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string word = *tokens->elems[i].get_if<std::string>();
    if (word.empty()) word = "[EMPTY_" + std::to_string(i) + "]";
    v.token_to_id[word] = static_cast<int32_t>(i);  // a later duplicate wins, as upstream
    v.tokens[i] = std::move(word);
    if (scores) {
      if (const float* f = scores->elems[i].get_if<float>()) v.scores[i] = *f;
      else v.scores[i] = static_cast<float>(*scores->elems[i].get_if<int32_t>());
    }
    if (types) v.attrs[i] = attr_of_type(*types->elems[i].get_if<int32_t>());
  }

  // Special ids: defaults out of range are dropped; keys out of range ignored.
  struct Special {
    const char* key;
    int32_t* id;
  };
  int32_t sep = kNoToken;
  const Special specials[] = {{"tokenizer.ggml.bos_token_id", &v.bos},
                              {"tokenizer.ggml.eos_token_id", &v.eos},
                              {"tokenizer.ggml.unknown_token_id", &v.unk},
                              {"tokenizer.ggml.seperator_token_id", &sep},
                              {"tokenizer.ggml.padding_token_id", &v.pad}};
  for (const Special& s : specials) {
    if (*s.id >= static_cast<int32_t>(n)) *s.id = kNoToken;
    int64_t id = 0;
    if (file.get_int(s.key, id) && id >= 0 && id < static_cast<int64_t>(n)) *s.id = static_cast<int32_t>(id);
  }
  get_bool(file, "tokenizer.ggml.add_bos_token", v.add_bos);
  get_bool(file, "tokenizer.ggml.add_eos_token", v.add_eos);
  if (force_add_bos) v.add_bos = true;  // llama.cpp's Gemma 4 work-around
  if (v.add_bos && v.bos == kNoToken) return make_error("{}: add_bos_token set but no BOS token", path);
  if (v.add_eos && v.eos == kNoToken) return make_error("{}: add_eos_token set but no EOS token", path);

  apply_attribute_fixups(v);

  for (int32_t id = 0; id < v.n_tokens(); ++id) {
    if (v.attrs[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v.special_tokens.push_back(id);
  }
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(), [&](int32_t a, int32_t b) {
    return v.tokens[a].size() > v.tokens[b].size();
  });
  return v;
}

}  // namespace apex::tok
