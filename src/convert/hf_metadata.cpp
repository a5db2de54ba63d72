#include "convert/hf_metadata.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

namespace apex::convert {
namespace {

bool is_cased(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Python's str.islower(): some cased character, none upper case.
bool py_islower(const std::string& s) {
  bool cased = false;
  for (char c : s) {
    if (std::isupper(static_cast<unsigned char>(c))) return false;
    if (std::islower(static_cast<unsigned char>(c))) cased = true;
  }
  return cased;
}

// Python's str.title() on ASCII: a letter is upper-cased when the character
// before it is not a letter (so "qwen3moe" becomes "Qwen3Moe").
std::string py_title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    if (is_cased(c)) {
      c = static_cast<char>(prev_cased ? std::tolower(static_cast<unsigned char>(c))
                                       : std::toupper(static_cast<unsigned char>(c)));
      prev_cased = true;
    } else {
      prev_cased = false;
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

bool full_match(const std::string& s, const char* pattern) {
  return std::regex_match(s, std::regex(pattern, std::regex::ECMAScript | std::regex::icase));
}

}  // namespace

ParamCounts count_params(const std::vector<gguf::TensorInfo>& tensors) {
  ParamCounts p;
  int64_t expert_sum = 0, n_expert_tensors = 0;
  for (const auto& t : tensors) {
    const int64_t size = t.n_elements();
    if (t.name.find("_exps.") != std::string::npos && t.ne.size() >= 3) {
      // numpy shape[-3] (shape[-2] for biases) is ggml's ne[2] (ne[1]).
      const int64_t n_expert = t.name.find(".bias") != std::string::npos ? t.ne[1] : t.ne[2];
      p.expert += size / n_expert;
      expert_sum += n_expert;
      ++n_expert_tensors;
    } else {
      p.shared += size;
    }
    p.total += size;
  }
  p.expert_count = n_expert_tensors > 0 ? expert_sum / n_expert_tensors : 0;
  return p;
}

std::string rounded_count(int64_t n) {
  double scaled;
  const char* suffix;
  const double x = static_cast<double>(n);
  if (x > 1e12) {
    scaled = x * 1e-12, suffix = "T";
  } else if (x > 1e9) {
    scaled = x * 1e-9, suffix = "B";
  } else if (x > 1e6) {
    scaled = x * 1e-6, suffix = "M";
  } else {
    scaled = x * 1e-3, suffix = "K";
  }
  // Python's round() (half to even, as nearbyint in the default mode), then
  // the digits before the point decide how many decimals make two digits.
  std::string whole = fmt::format("{}", static_cast<int64_t>(std::nearbyint(scaled)));
  whole.erase(0, whole.find_first_not_of('0') == std::string::npos ? whole.size() : whole.find_first_not_of('0'));
  const int fix = std::max(2 - static_cast<int>(whole.size()), 0);
  return fmt::format("{:.{}f}{}", scaled, fix, suffix);
}

std::string size_label(const ParamCounts& p) {
  if (p.expert_count > 0) {
    return fmt::format("{}x{}", p.expert_count, rounded_count(std::abs(p.shared) + std::abs(p.expert)));
  }
  return rounded_count(std::abs(p.total));
}

std::string id_to_title(const std::string& s) {
  std::string t = s;
  std::replace(t.begin(), t.end(), '-', ' ');
  std::istringstream words(t);
  std::vector<std::string> out;
  static const std::regex kKeep(R"(^(v\d+(?:\.\d+)*|\d.*)$)");
  for (std::string w; words >> w;) {
    out.push_back(py_islower(w) && !std::regex_search(w, kKeep) ? py_title(w) : w);
  }
  return join(out, " ");
}

ModelIdParts model_id_parts(const std::string& model_id, int64_t total_params) {
  ModelIdParts r;
  if (model_id.find(' ') != std::string::npos) {
    r.name = model_id;  // a sentence, not an id
    return r;
  }
  std::string full = model_id;
  if (auto slash = model_id.find('/'); slash != std::string::npos) {
    std::string org = model_id.substr(0, slash);
    full = model_id.substr(slash + 1);
    if (!org.empty() && org[0] != '.') r.organization = org;
    // An empty org is kept as an (empty) organization, as upstream.
    if (org.empty()) r.organization = org;
  }
  r.name = full;
  std::vector<std::string> parts;
  for (auto& p : split(full, '-')) {
    if (!p.empty()) parts.push_back(p);
  }
  std::vector<std::set<std::string>> types(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string& part = parts[i];
    if (full_match(part, R"((v|iter)?\d+([.]\d+)*)")) {
      types[i].insert("version");
    } else if (full_match(part, R"(i?q\d(_\w)*|b?fp?(16|32))")) {
      types[i].insert("type");
      std::transform(part.begin(), part.end(), part.begin(), [](unsigned char c) { return std::toupper(c); });
    } else if (i > 0 && full_match(part, R"((([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl))")) {
      std::replace(part.begin(), part.end(), '_', '.');
      if (is_digit(part.back()) && part.size() >= 2) {  // bloom-7b1 -> 7.1B
        part = part.substr(0, part.size() - 2) + "." + part.back() + part[part.size() - 2];
      }
      if (part.size() > 1 && is_digit(part[part.size() - 2]) && std::string("kmbt").find(part.back()) != std::string::npos) {
        part.back() = static_cast<char>(std::toupper(static_cast<unsigned char>(part.back())));
      }
      if (total_params != 0) {
        // A size far from the real one is a context length ("...-32k").
        const std::string num = part.substr(0, part.size() - 1);
        char* end = nullptr;
        const double value = std::strtod(num.c_str(), &end);
        const bool numeric = !num.empty() && end == num.c_str() + num.size();
        if (numeric) {
          const auto pos = std::string(" KMBT").find(part.back());
          const double label = value * (pos == std::string::npos ? 1e-3 : std::pow(1000.0, static_cast<double>(pos)));
          const double tp = static_cast<double>(total_params);
          const bool far = (total_params < 0 && label < static_cast<double>(std::abs(total_params) / 8)) ||
                           (total_params > 0 && std::abs(label - tp) > static_cast<double>(7 * total_params / 8));
          if (far) {
            types[i].insert("finetune");
            part.back() = static_cast<char>(std::tolower(static_cast<unsigned char>(part.back())));
          }
        }
      }
      if (types[i].empty()) types[i].insert("size_label");
    } else if (i > 0 && full_match(part, "chat|instruct|vision|lora")) {
      types[i].insert(total_params < 0 && (part == "lora" || part == "LORA" || part == "Lora") ? "type" : "finetune");
    }
  }
  // Word sizes ("small") give way to numeric ones.
  bool numeric_size = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (types[i].count("size_label") && std::any_of(parts[i].begin(), parts[i].end(), is_digit)) numeric_size = true;
  }
  if (numeric_size) {
    for (size_t i = 0; i < parts.size(); ++i) {
      if (types[i].count("size_label") && std::all_of(parts[i].begin(), parts[i].end(), is_cased)) {
        types[i].erase("size_label");
      }
    }
  }
  bool at_start = true;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (at_start && ((types[i].empty() && is_cased(parts[i][0])) || types[i].count("version"))) {
      types[i].insert("basename");
    } else {
      at_start = false;
      if (types[i].empty()) types[i].insert("finetune");
    }
  }
  for (size_t i = parts.size(); i-- > 0;) {
    if (types[i].count("basename") && types[i].size() > 1) {
      types[i].erase("basename");
    } else {
      break;
    }
  }
  std::vector<std::string> basename, sizes, finetune, version;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (types[i].count("basename")) basename.push_back(parts[i]);
    if (types[i].count("size_label") && std::find(sizes.begin(), sizes.end(), parts[i]) == sizes.end()) {
      sizes.push_back(parts[i]);
    }
    if (types[i].count("finetune")) finetune.push_back(parts[i]);
    if (types[i].count("version") && !types[i].count("basename")) version.push_back(parts[i]);
  }
  if (!sizes.empty()) r.size_label = join(sizes, "-");
  if (!finetune.empty()) r.finetune = join(finetune, "-");
  if (!version.empty()) r.version = join(version, "-");
  if (!basename.empty() && (r.size_label || r.finetune || r.version)) r.basename = join(basename, "-");
  return r;
}

void add_general_metadata(const std::optional<std::string>& name_or_path, const std::string& dir_name,
                          const ParamCounts& params, gguf::Layout& l) {
  ModelIdParts m;
  auto fill = [&](const ModelIdParts& p) {
    if (!m.name && p.name) m.name = id_to_title(*p.name);
    if (!m.organization && p.organization) m.organization = id_to_title(*p.organization);
    if (!m.basename) m.basename = p.basename;
    if (!m.finetune) m.finetune = p.finetune;
    if (!m.version) m.version = p.version;
    if (!m.size_label) m.size_label = p.size_label;
  };
  // _name_or_path only when it is a model id, not a path on some machine.
  if (name_or_path && std::count(name_or_path->begin(), name_or_path->end(), '/') <= 1) {
    fill(model_id_parts(*name_or_path, params.total));
  }
  fill(model_id_parts(dir_name, params.total));
  if (!m.name) m.name = dir_name;
  if (!m.size_label && params.total > 0) m.size_label = size_label(params);

  l.set("general.name", gguf::Value(*m.name));
  if (m.version) l.set("general.version", gguf::Value(*m.version));
  if (m.organization) l.set("general.organization", gguf::Value(*m.organization));
  if (m.finetune) l.set("general.finetune", gguf::Value(*m.finetune));
  if (m.basename) l.set("general.basename", gguf::Value(*m.basename));
  if (m.size_label) l.set("general.size_label", gguf::Value(*m.size_label));
}

}  // namespace apex::convert
