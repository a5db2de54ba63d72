#include "plan/tensor_type_overrides.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "quant/type_table.h"

namespace apex::plan {
namespace {

// The separators of `std::istream >> std::string` in the C locale, which is
// how llama-quantize splits a --tensor-type-file.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Upstream lower-cases with tolower() in the C locale: ASCII letters only.
std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

Result<TensorTypeOverride> parse_tensor_type_override(std::string_view item) {
  const size_t eq = item.find('=');
  if (eq == std::string_view::npos) {
    return make_error("--tensor-type '{}': expected PATTERN=TYPE", item);
  }
  if (eq == 0) {
    return make_error("--tensor-type '{}': missing tensor name pattern before '='", item);
  }
  const std::string_view type_text = item.substr(eq + 1);
  if (type_text.empty()) {
    return make_error("--tensor-type '{}': missing quantization type after '='", item);
  }
  auto type = quant::parse_type_name(type_text);
  if (!type.ok()) {
    return make_error("--tensor-type '{}': unknown type '{}' (valid: {})", item, type_text,
                      quant::type_name_list());
  }
  TensorTypeOverride out{ascii_lower(item.substr(0, eq)), *type, {}};
  try {
    out.regex = std::regex(out.pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return make_error("--tensor-type '{}': pattern '{}' is not a valid regular expression ({})",
                      item, out.pattern, e.what());
  }
  return out;
}

Status TensorTypeOverrides::add(std::string_view item) {
  APEX_ASSIGN_OR_RETURN(auto parsed, parse_tensor_type_override(item));
  items_.push_back(std::move(parsed));
  return Status::Ok();
}

Status TensorTypeOverrides::add_text(std::string_view text, std::string_view source) {
  size_t pos = 0;
  int index = 0;
  while (pos < text.size()) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
    size_t end = pos;
    while (end < text.size() && !is_space(text[end])) ++end;
    if (end == pos) break;
    ++index;
    auto parsed = parse_tensor_type_override(text.substr(pos, end - pos));
    if (!parsed.ok()) return make_error("{}: item {}: {}", source, index, parsed.message());
    items_.push_back(std::move(parsed).value());
    pos = end;
  }
  return Status::Ok();
}

Status TensorTypeOverrides::add_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("{}: cannot open tensor type file: {}", path, std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error("{}: read error", path);
  return add_text(text.str(), path);
}

const quant::TypeId* TensorTypeOverrides::match(std::string_view tensor_name) const {
  for (const auto& o : items_) {
    if (std::regex_search(tensor_name.begin(), tensor_name.end(), o.regex)) return &o.type;
  }
  return nullptr;
}

}  // namespace apex::plan
