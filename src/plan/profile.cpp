#include "plan/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "plan/embedded_profiles.h"
#include "plan/tensor_type_overrides.h"
#include "quant/type_table.h"
#include "util/strings.h"

namespace apex::plan {
namespace {

struct ClassName {
  LayerClass c;
  const char* name;
};
constexpr ClassName kClassNames[] = {
    {LayerClass::kEdge, "edge"},           {LayerClass::kNearEdge, "near_edge"},
    {LayerClass::kMiddle, "middle"},       {LayerClass::kAttnEdge, "attn_edge"},
    {LayerClass::kAttnMiddle, "attn_middle"}, {LayerClass::kAll, "all"},
};

std::string class_name_list() {
  std::string out;
  for (const auto& c : kClassNames) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

// The tensor stems generate_config.sh writes for every layer, in its order.
// Attention and SSM lines use its attention classes, experts its 3-tier
// gradient; here that is simply each role's rules.
struct ScriptStem {
  Role role;
  const char* stem;
};
constexpr ScriptStem kScriptStems[] = {
    {Role::kRoutedExperts, "ffn_gate_exps"}, {Role::kRoutedExperts, "ffn_up_exps"},
    {Role::kRoutedExperts, "ffn_down_exps"}, {Role::kSharedExperts, "ffn_gate_shexp"},
    {Role::kSharedExperts, "ffn_up_shexp"},  {Role::kSharedExperts, "ffn_down_shexp"},
    {Role::kAttention, "attn_q"},            {Role::kAttention, "attn_k"},
    {Role::kAttention, "attn_v"},            {Role::kAttention, "attn_output"},
    {Role::kAttention, "attn_gate"},         {Role::kAttention, "attn_qkv"},
    {Role::kSsm, "ssm_alpha"},               {Role::kSsm, "ssm_beta"},
    {Role::kSsm, "ssm_out"},
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !is_space(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool quantizable_role(Role r) {
  return r != Role::kRouter && r != Role::kBias && r != Role::kNorm;
}

}  // namespace

const char* layer_class_name(LayerClass c) {
  for (const auto& n : kClassNames)
    if (n.c == c) return n.name;
  return "?";
}

bool Profile::in_class(LayerClass c, int i, int n) const {
  const bool edge = i < edge_layers || i >= n - edge_layers;
  const int near = edge_layers + near_edge_layers;
  const bool near_edge = !edge && (i < near || i >= n - near);
  const bool attn_edge = i < attn_edge_layers || i >= n - attn_edge_layers;
  switch (c) {
    case LayerClass::kEdge: return edge;
    case LayerClass::kNearEdge: return near_edge;
    case LayerClass::kMiddle: return !edge && !near_edge;
    case LayerClass::kAttnEdge: return attn_edge;
    case LayerClass::kAttnMiddle: return !attn_edge;
    case LayerClass::kAll: return true;
  }
  return false;
}

const ProfileRule* Profile::rule_for(Role role, int layer, int n_layer) const {
  for (const ProfileRule& r : rules) {
    if (r.role == role && in_class(r.layers, layer, n_layer)) return &r;
  }
  return nullptr;
}

LayerClass Profile::gradient_class(int layer, int n_layer) const {
  if (in_class(LayerClass::kEdge, layer, n_layer)) return LayerClass::kEdge;
  if (in_class(LayerClass::kNearEdge, layer, n_layer)) return LayerClass::kNearEdge;
  return LayerClass::kMiddle;
}

LayerClass Profile::attention_class(int layer, int n_layer) const {
  return in_class(LayerClass::kAttnEdge, layer, n_layer) ? LayerClass::kAttnEdge : LayerClass::kAttnMiddle;
}

Result<Profile> parse_profile(std::string_view text, std::string_view source) {
  Profile p;
  p.source = std::string(source);
  std::string base_text;
  int base_line = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const auto words = split_words(line);
    if (words.empty()) {
      if (end == text.size()) break;
      continue;
    }
    const std::string_view key = words[0];
    auto want = [&](size_t n) -> Status {
      if (words.size() != n) {
        return make_error("{}:{}: '{}' takes {} value{}, found {}", source, line_no, key, n - 1,
                          n == 2 ? "" : "s", words.size() - 1);
      }
      return Status::Ok();
    };
    if (key == "name") {
      APEX_RETURN_IF_ERROR(want(2));
      p.name = std::string(words[1]);
    } else if (key == "about") {
      p.about = std::string(trim(line.substr(line.find("about") + 5)));
    } else if (key == "base") {
      APEX_RETURN_IF_ERROR(want(2));
      auto f = parse_ftype(words[1]);
      if (!f.ok()) return make_error("{}:{}: base: {}", source, line_no, f.message());
      if ((*f)->only_copy) return make_error("{}:{}: base: COPY cannot be a profile's base", source, line_no);
      p.base = *f;
      base_text = std::string(words[1]);
      base_line = line_no;
    } else if (key == "imatrix") {
      APEX_RETURN_IF_ERROR(want(2));
      if (words[1] == "recommended") {
        p.imatrix_recommended = true;
      } else if (words[1] == "optional") {
        p.imatrix_recommended = false;
      } else {
        return make_error("{}:{}: imatrix: expected 'optional' or 'recommended', found '{}'", source, line_no,
                          words[1]);
      }
    } else if (key == "edge_layers" || key == "near_edge_layers" || key == "attn_edge_layers") {
      APEX_RETURN_IF_ERROR(want(2));
      int v = -1;
      const auto* b = words[1].data();
      const auto r = std::from_chars(b, b + words[1].size(), v);
      if (r.ec != std::errc() || r.ptr != b + words[1].size() || v < 0 || v > 1000) {
        return make_error("{}:{}: {}: expected a layer count 0..1000, found '{}'", source, line_no, key, words[1]);
      }
      (key == "edge_layers" ? p.edge_layers : key == "near_edge_layers" ? p.near_edge_layers : p.attn_edge_layers) = v;
    } else if (auto role = parse_role(key)) {
      if (!quantizable_role(*role)) {
        return make_error("{}:{}: role '{}' is never quantized; rules may name: routed_experts, shared_experts, "
                          "attention, ssm, dense_ffn, embeddings, output, other",
                          source, line_no, key);
      }
      if (words.size() != 3) {
        return make_error("{}:{}: a rule is 'ROLE LAYERS TYPE', found {} word{}", source, line_no, words.size(),
                          words.size() == 1 ? "" : "s");
      }
      ProfileRule rule;
      rule.role = *role;
      rule.line = line_no;
      bool found = false;
      for (const auto& c : kClassNames) {
        if (iequals(words[1], c.name)) {
          rule.layers = c.c;
          found = true;
        }
      }
      if (!found) {
        return make_error("{}:{}: unknown layer class '{}' (valid: {})", source, line_no, words[1], class_name_list());
      }
      auto type = quant::parse_type_name(words[2]);
      if (!type.ok()) {
        return make_error("{}:{}: unknown type '{}' (valid: {})", source, line_no, words[2], quant::type_name_list());
      }
      rule.type = *type;
      rule.type_text = std::string(words[2]);
      p.rules.push_back(std::move(rule));
    } else {
      return make_error("{}:{}: unknown setting or role '{}' (settings: name, about, base, imatrix, edge_layers, "
                        "near_edge_layers, attn_edge_layers; roles: {})",
                        source, line_no, key, role_name_list());
    }
    if (end == text.size()) break;
  }
  (void)base_line;
  if (p.base == nullptr) return make_error("{}: no 'base FTYPE' line", source);
  if (p.name.empty()) {
    p.name = std::filesystem::path(std::string(source)).stem().string();
  }
  return p;
}

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> out;
  for (const EmbeddedProfile& e : embedded_profiles()) {
    std::string_view n = e.file_name;
    if (n.size() > 8 && n.substr(n.size() - 8) == ".profile") n.remove_suffix(8);
    out.emplace_back(n);
  }
  return out;
}

Result<Profile> builtin_profile(std::string_view name) {
  std::string list;
  for (const EmbeddedProfile& e : embedded_profiles()) {
    std::string_view n = e.file_name;
    if (n.size() > 8 && n.substr(n.size() - 8) == ".profile") n.remove_suffix(8);
    if (iequals(n, name)) {
      auto p = parse_profile(e.text, fmt::format("built-in profile {}", e.file_name));
      // A shipped profile that does not parse is a build defect, not bad input;
      // tests parse every one of them.
      if (p.ok()) p->source = "built-in";
      return p;
    }
    list += (list.empty() ? "" : ", ") + std::string(n);
  }
  return make_error("unknown profile '{}' (valid: {}, custom, or a profile file path)", name, list);
}

Result<Profile> load_profile(std::string_view name_or_path) {
  const std::string s(name_or_path);
  const bool looks_like_path = s.find('/') != std::string::npos ||
                               (s.size() > 8 && s.substr(s.size() - 8) == ".profile");
  std::error_code ec;
  if (!looks_like_path && !std::filesystem::is_regular_file(s, ec)) return builtin_profile(s);
  if (!looks_like_path) {
    // An existing file named like a built-in profile: the built-in wins
    // unless the name has a path separator.
    auto b = builtin_profile(s);
    if (b.ok()) return b;
  }
  std::ifstream in(s, std::ios::binary);
  if (!in) return make_error("{}: cannot open profile file: {}", s, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error("{}: read error", s);
  return parse_profile(text.str(), s);
}

Result<Profile> custom_profile(const CustomTypes& t) {
  if (t.edge_experts.empty()) return make_error("--profile custom requires --edge-exp TYPE");
  auto or_default = [](const std::string& v, const std::string& d) { return v.empty() ? d : v; };
  const std::string near = or_default(t.near_experts, t.edge_experts);
  const std::string mid = or_default(t.mid_experts, t.edge_experts);
  const std::string edge_shared = or_default(t.edge_shared, "Q8_0");
  const std::string mid_shared = or_default(t.mid_shared, edge_shared);
  const std::string edge_attn = or_default(t.edge_attn, "Q6_K");
  const std::string mid_attn = or_default(t.mid_attn, edge_attn);
  const std::string base = or_default(t.base, "Q6_K");
  for (const std::string* v : {&near, &mid, &edge_shared, &mid_shared, &edge_attn, &mid_attn, &base}) {
    if (v->find_first_of(" \t\n#") != std::string::npos) return make_error("--profile custom: bad type '{}'", *v);
  }
  const std::string text = fmt::format(
      "name custom\nabout generate_config.sh --custom\nbase {}\n"
      "routed_experts edge {}\nrouted_experts near_edge {}\nrouted_experts middle {}\n"
      "shared_experts edge {}\nshared_experts all {}\n"
      "attention attn_edge {}\nattention all {}\n"
      "ssm attn_edge {}\nssm all {}\n",
      base, t.edge_experts, near, mid, edge_shared, mid_shared, edge_attn, mid_attn, edge_attn, mid_attn);
  auto p = parse_profile(text, "--profile custom");
  if (!p.ok()) {
    // The line numbers of the generated text mean nothing to the user.
    const std::string& m = p.message();
    const size_t colon = m.find(": ", std::string("--profile custom:").size());
    return make_error("--profile custom: {}", colon == std::string::npos ? m : m.substr(colon + 2));
  }
  p->source = "custom";
  return p;
}

std::vector<TensorTypeLine> tensor_type_lines(const Profile& profile, int n_layer,
                                              std::span<const TensorDesc> tensors) {
  // Tensors by layer, for the extra lines.
  std::vector<std::vector<const TensorDesc*>> by_layer(std::max(n_layer, 0));
  for (const TensorDesc& t : tensors) {
    const auto layer = layer_of(t.name);
    if (layer && *layer >= 0 && *layer < n_layer && t.ne.size() >= 2) by_layer[*layer].push_back(&t);
  }
  std::vector<TensorTypeLine> out;
  for (int i = 0; i < n_layer; ++i) {
    const size_t first = out.size();
    for (const ScriptStem& s : kScriptStems) {
      if (const ProfileRule* r = profile.rule_for(s.role, i, n_layer)) {
        out.push_back({fmt::format("blk.{}.{}", i, s.stem), r->type_text, s.role, i});
      }
    }
    if (by_layer.empty() || by_layer[i].empty()) continue;
    TensorTypeOverrides layer_lines;
    for (size_t k = first; k < out.size(); ++k) {
      Status st = layer_lines.add(out[k].pattern + "=" + out[k].type_text);
      (void)st;  // patterns of known stems and parsed types always compile
    }
    for (const TensorDesc* t : by_layer[i]) {
      const Role role = role_of(t->name);
      const ProfileRule* r = profile.rule_for(role, i, n_layer);
      if (r == nullptr || layer_lines.match(t->name) != nullptr) continue;
      std::string_view stem = t->name;
      stem.remove_prefix(stem.find('.', 4) + 1);  // "blk.N."
      if (stem.size() > 7 && stem.substr(stem.size() - 7) == ".weight") stem.remove_suffix(7);
      TensorTypeLine line{fmt::format("blk.{}.{}", i, stem), r->type_text, role, i};
      Status st = layer_lines.add(line.pattern + "=" + line.type_text);
      if (!st.ok()) continue;  // a name that is not a valid regex: leave it to the base ftype
      out.push_back(std::move(line));
    }
  }
  return out;
}

std::string tensor_type_file_text(std::span<const TensorTypeLine> lines) {
  std::string out;
  for (const auto& l : lines) out += l.pattern + "=" + l.type_text + "\n";
  return out;
}

}  // namespace apex::plan
