#include "plan/apex_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>

#include "gguf/gguf.h"
#include "quant/type_table.h"

namespace apex::plan {
namespace {

uint64_t stored_bytes(quant::TypeId type, const std::vector<int64_t>& ne) {
  auto b = gguf::tensor_nbytes(static_cast<int32_t>(type), ne);
  return b.ok() ? *b : 0;
}

std::string shape_text(const std::vector<int64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
  return s;
}

std::string human_bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", b / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.2f} KiB", b / double(1ull << 10));
  return fmt::format("{} B", b);
}

// Output types of a role with their tensor counts, in order of first use.
std::vector<std::pair<quant::TypeId, int>> role_types(const Plan& plan, Role role) {
  std::vector<std::pair<quant::TypeId, int>> out;
  for (const PlannedTensor& t : plan.tensors) {
    if (t.role != role || t.ne.size() < 2) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == t.type; });
    if (it == out.end()) {
      out.push_back({t.type, 1});
    } else {
      ++it->second;
    }
  }
  return out;
}

std::string role_types_text(const Plan& plan, Role role, const char* sep) {
  std::string s;
  for (const auto& [type, n] : role_types(plan, role)) {
    s += fmt::format("{}{}:{}", s.empty() ? "" : sep, quant::type_name(type), n);
  }
  return s;
}

}  // namespace

Result<Plan> make_plan(const ModelFacts& facts, std::span<const TensorDesc> file_order, const Profile& profile,
                       const PlanOptions& options) {
  Plan plan;
  plan.profile = profile.name;
  plan.profile_source = profile.source;
  plan.base = options.base_override != nullptr ? options.base_override : profile.base;
  plan.facts = facts;
  plan.imatrix_recommended = profile.imatrix_recommended;
  const int n_layer = static_cast<int>(facts.n_layer);

  std::vector<std::string> names;
  names.reserve(file_order.size());
  for (const TensorDesc& t : file_order) names.push_back(t.name);
  plan.order = llama_tensor_order(names);
  std::vector<TensorDesc> descs;
  descs.reserve(file_order.size());
  for (size_t i : plan.order) descs.push_back(file_order[i]);

  plan.lines = tensor_type_lines(profile, n_layer, descs);
  plan.rules.ftype = plan.base->ftype;
  plan.rules.has_imatrix = options.has_imatrix;
  plan.rules.overrides = options.user_overrides;
  for (const TensorTypeLine& l : plan.lines) {
    Status s = plan.rules.overrides.add(l.pattern + "=" + l.type_text);
    if (!s.ok()) return make_error("profile {}: {}", profile.name, s.message());
  }

  APEX_ASSIGN_OR_RETURN(std::vector<TensorChoice> choices, choose_tensor_types(facts, descs, plan.rules));

  bool any_experts = false;
  for (size_t i = 0; i < descs.size(); ++i) {
    const TensorDesc& d = descs[i];
    const TensorChoice& c = choices[i];
    PlannedTensor t;
    t.name = d.name;
    t.ne = d.ne;
    t.src_type = d.type;
    t.role = role_of(d.name);
    const auto layer = layer_of(d.name);
    t.layer = layer.value_or(-1);
    if (t.layer >= 0) {
      const bool attn_like = t.role == Role::kAttention || t.role == Role::kSsm;
      t.layer_class = layer_class_name(attn_like ? profile.attention_class(t.layer, n_layer)
                                                 : profile.gradient_class(t.layer, n_layer));
    } else {
      t.layer_class = "-";
    }
    t.type = c.type;
    t.quantized = c.type != d.type;
    t.source = c.source;
    t.fell_back = c.fell_back;
    t.needs_imatrix = c.allows_quantization && c.requires_imatrix;
    t.src_bytes = stored_bytes(d.type, d.ne);
    t.bytes = t.quantized ? stored_bytes(c.type, d.ne) : t.src_bytes;
    t.n_elements = 1;
    for (int64_t n : d.ne) t.n_elements *= n;

    plan.src_bytes += t.src_bytes;
    plan.bytes += t.bytes;
    plan.n_elements += t.n_elements;
    auto it = std::find_if(plan.roles.begin(), plan.roles.end(), [&](const RoleTotal& r) { return r.role == t.role; });
    if (it == plan.roles.end()) {
      plan.roles.push_back({t.role});
      it = plan.roles.end() - 1;
    }
    ++it->n_tensors;
    it->n_elements += t.n_elements;
    it->src_bytes += t.src_bytes;
    it->bytes += t.bytes;
    if (t.role == Role::kOther) plan.other_tensors.push_back(t.name);
    if (t.needs_imatrix) plan.needs_imatrix.push_back(t.name);
    if (t.role == Role::kRoutedExperts) any_experts = true;
    plan.tensors.push_back(std::move(t));
  }
  std::sort(plan.roles.begin(), plan.roles.end(),
            [](const RoleTotal& a, const RoleTotal& b) { return a.role < b.role; });
  if (!any_experts) {
    plan.warnings.push_back(
        "no routed expert tensors (ffn_*_exps): this is not a Mixture-of-Experts model, so APEX's assumptions "
        "(sparse experts hold most weights and tolerate low precision) do not hold");
  }
  return plan;
}

std::string plan_summary(const Plan& plan) {
  std::string s = fmt::format("{} base={} layers={}", plan.profile, plan.base->name, plan.facts.n_layer);
  for (const RoleTotal& r : plan.roles) {
    const std::string types = role_types_text(plan, r.role, ",");
    if (!types.empty()) s += fmt::format(" {}={}", role_name(r.role), types);
  }
  s += fmt::format(" bytes={} bpw={:.3f}", plan.bytes, plan.bpw());
  return s;
}

std::string format_plan_text(const Plan& plan, bool per_tensor) {
  std::string out;
  if (per_tensor) {
    size_t w = 6;
    for (const auto& t : plan.tensors) w = std::max(w, t.name.size());
    out += fmt::format("{:<{}}  {:<14} {:<11} {:<22} {:>7} -> {:<7} {:>12}\n", "tensor", w, "role", "class", "shape",
                       "from", "type", "bytes");
    for (const auto& t : plan.tensors) {
      std::string flags;
      if (t.fell_back) flags += "  (fallback)";
      if (t.needs_imatrix) flags += "  (needs imatrix)";
      out += fmt::format("{:<{}}  {:<14} {:<11} {:<22} {:>7} -> {:<7} {:>12}{}\n", t.name, w, role_name(t.role),
                         t.layer_class, shape_text(t.ne), quant::type_name(t.src_type), quant::type_name(t.type),
                         t.bytes, flags);
    }
    out += "\n";
  }
  out += fmt::format("profile {} ({}), base ftype {}, {} layers, architecture {}\n", plan.profile,
                     plan.profile_source, plan.base->name, plan.facts.n_layer,
                     plan.facts.arch.empty() ? "?" : plan.facts.arch);
  out += fmt::format("  {} tensors, {} parameters, {} tensor-type lines\n", plan.tensors.size(), plan.n_elements,
                     plan.lines.size());
  out += fmt::format("  size: {} bytes ({}, {:.2f} GB) at {:.3f} bits per weight; source {} ({:.3f} bpw)\n",
                     plan.bytes, human_bytes(plan.bytes), plan.bytes / 1e9, plan.bpw(), human_bytes(plan.src_bytes),
                     plan.n_elements ? 8.0 * plan.src_bytes / plan.n_elements : 0.0);
  out += fmt::format("\n  {:<15} {:>7} {:>14} {:>12} {:>7} {:>7}  types (tensors)\n", "role", "tensors", "parameters",
                     "size", "share", "bpw");
  for (const RoleTotal& r : plan.roles) {
    out += fmt::format("  {:<15} {:>7} {:>14} {:>12} {:>6.1f}% {:>7.3f}  {}\n", role_name(r.role), r.n_tensors,
                       r.n_elements, human_bytes(r.bytes), plan.bytes ? 100.0 * r.bytes / plan.bytes : 0.0,
                       r.n_elements ? 8.0 * r.bytes / r.n_elements : 0.0, role_types_text(plan, r.role, " "));
  }
  if (!plan.other_tensors.empty()) {
    out += fmt::format("\nunrecognised tensors (role \"other\", base ftype rule): {}\n", plan.other_tensors.size());
    for (const auto& n : plan.other_tensors) out += "  " + n + "\n";
  }
  if (!plan.needs_imatrix.empty()) {
    out += fmt::format("\n{} tensors need an importance matrix (--imatrix FILE), e.g. {}\n", plan.needs_imatrix.size(),
                       plan.needs_imatrix.front());
  } else if (plan.imatrix_recommended) {
    out += "\nthis tier is meant to be quantized with an importance matrix (--imatrix FILE)\n";
  }
  for (const auto& w : plan.warnings) out += "\nwarning: " + w + "\n";
  return out;
}

nlohmann::json plan_to_json(const Plan& plan) {
  nlohmann::json j;
  j["profile"] = plan.profile;
  j["profile_source"] = plan.profile_source;
  j["base_ftype"] = plan.base->name;
  j["architecture"] = plan.facts.arch;
  j["n_layer"] = plan.facts.n_layer;
  j["n_expert"] = plan.facts.n_expert;
  j["n_elements"] = plan.n_elements;
  j["src_bytes"] = plan.src_bytes;
  j["bytes"] = plan.bytes;
  j["bpw"] = plan.bpw();
  j["tensor_type_lines"] = plan.lines.size();
  j["imatrix_recommended"] = plan.imatrix_recommended;
  j["needs_imatrix"] = plan.needs_imatrix;
  j["other_tensors"] = plan.other_tensors;
  j["warnings"] = plan.warnings;
  j["summary"] = plan_summary(plan);
  j["roles"] = nlohmann::json::array();
  for (const RoleTotal& r : plan.roles) {
    nlohmann::json types = nlohmann::json::object();
    for (const auto& [type, n] : role_types(plan, r.role)) types[quant::type_name(type)] = n;
    j["roles"].push_back({{"role", role_name(r.role)},
                          {"tensors", r.n_tensors},
                          {"n_elements", r.n_elements},
                          {"src_bytes", r.src_bytes},
                          {"bytes", r.bytes},
                          {"bpw", r.n_elements ? 8.0 * r.bytes / r.n_elements : 0.0},
                          {"types", types}});
  }
  j["tensors"] = nlohmann::json::array();
  for (const auto& t : plan.tensors) {
    j["tensors"].push_back({{"name", t.name},
                            {"role", role_name(t.role)},
                            {"layer", t.layer},
                            {"class", t.layer_class},
                            {"shape", t.ne},
                            {"src_type", quant::type_name(t.src_type)},
                            {"type", quant::type_name(t.type)},
                            {"src_bytes", t.src_bytes},
                            {"bytes", t.bytes},
                            {"quantized", t.quantized},
                            {"fallback", t.fell_back},
                            {"needs_imatrix", t.needs_imatrix}});
  }
  return j;
}

namespace {

// "0-39", "3-39/4", "0,2,5-7": the layers a layer_tensors entry repeats over.
Result<std::vector<int>> parse_layer_set(std::string_view text, int n_layer) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    int a = 0, b = 0, step = 1;
    auto num = [](std::string_view s, int& v) {
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
    };
    std::string_view range = item;
    if (const size_t slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      if (!num(item.substr(slash + 1), step) || step < 1) return make_error("bad layer step in '{}'", item);
    }
    if (const size_t dash = range.find('-'); dash != std::string_view::npos) {
      if (!num(range.substr(0, dash), a) || !num(range.substr(dash + 1), b)) return make_error("bad layer range '{}'", item);
    } else {
      if (!num(range, a)) return make_error("bad layer '{}'", item);
      b = a;
    }
    if (a < 0 || b < a || b >= n_layer) return make_error("layers '{}' outside 0..{}", item, n_layer - 1);
    for (int i = a; i <= b; i += step) out.push_back(i);
    pos = end + 1;
    if (end == text.size()) break;
  }
  return out;
}

}  // namespace

Result<ShapesModel> parse_shapes_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) return make_error("{}: expected a JSON object", source);
  ShapesModel m;
  auto get_u32 = [&](const char* key, uint32_t& out, bool required) -> Status {
    if (!j.contains(key)) {
      return required ? Status(make_error("{}: missing \"{}\"", source, key)) : Status::Ok();
    }
    if (!j[key].is_number_unsigned()) return make_error("{}: \"{}\" must be a non-negative integer", source, key);
    out = j[key].get<uint32_t>();
    return Status::Ok();
  };
  if (!j.contains("architecture") || !j["architecture"].is_string())
    return make_error("{}: missing \"architecture\" (a string such as \"qwen3moe\")", source);
  m.facts.arch = j["architecture"].get<std::string>();
  APEX_RETURN_IF_ERROR(get_u32("block_count", m.facts.n_layer, true));
  if (m.facts.n_layer < 1 || m.facts.n_layer > 512) return make_error("{}: block_count must be 1..512", source);
  APEX_RETURN_IF_ERROR(get_u32("expert_count", m.facts.n_expert, false));
  APEX_RETURN_IF_ERROR(get_u32("head_count", m.facts.n_head, false));
  m.facts.n_head_kv = m.facts.n_head;
  APEX_RETURN_IF_ERROR(get_u32("head_count_kv", m.facts.n_head_kv, false));
  APEX_RETURN_IF_ERROR(get_u32("embedding_length", m.facts.n_embd, false));
  APEX_RETURN_IF_ERROR(get_u32("nextn_predict_layers", m.facts.n_layer_nextn, false));
  m.facts.is_70b = is_70b_model(m.facts);

  auto add = [&](const nlohmann::json& e, const std::string& where, const std::string& prefix,
                 const std::vector<int>& layers) -> Status {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("shape") ||
        !e["shape"].is_array()) {
      return make_error("{}: {}: expected {{\"name\": ..., \"shape\": [...]}}", source, where);
    }
    const std::string name = e["name"].get<std::string>();
    std::vector<int64_t> ne;
    for (const auto& v : e["shape"]) {
      if (!v.is_number_unsigned()) return make_error("{}: {} ({}): shape entries must be non-negative integers", source, where, name);
      ne.push_back(v.get<int64_t>());
    }
    if (ne.empty() || ne.size() > 4) return make_error("{}: {} ({}): shape needs 1..4 dimensions", source, where, name);
    quant::TypeId type = ne.size() >= 2 ? quant::TypeId::BF16 : quant::TypeId::F32;
    if (e.contains("type")) {
      if (!e["type"].is_string()) return make_error("{}: {} ({}): \"type\" must be a string", source, where, name);
      auto t = quant::parse_type_name(e["type"].get<std::string>());
      if (!t.ok()) return make_error("{}: {} ({}): {}", source, where, name, t.message());
      type = *t;
    }
    auto check = gguf::tensor_nbytes(static_cast<int32_t>(type), ne);
    if (!check.ok()) return make_error("{}: {} ({}): {}", source, where, name, check.message());
    if (prefix.empty()) {
      m.tensors.push_back({name, ne, type});
    } else {
      for (int layer : layers) m.tensors.push_back({fmt::format("blk.{}.{}", layer, name), ne, type});
    }
    return Status::Ok();
  };
  if (j.contains("tensors")) {
    if (!j["tensors"].is_array()) return make_error("{}: \"tensors\" must be an array", source);
    for (size_t i = 0; i < j["tensors"].size(); ++i) {
      APEX_RETURN_IF_ERROR(add(j["tensors"][i], fmt::format("tensors[{}]", i), "", {}));
    }
  }
  if (j.contains("layer_tensors")) {
    if (!j["layer_tensors"].is_array()) return make_error("{}: \"layer_tensors\" must be an array", source);
    std::vector<int> all(m.facts.n_layer);
    for (uint32_t i = 0; i < m.facts.n_layer; ++i) all[i] = static_cast<int>(i);
    for (size_t i = 0; i < j["layer_tensors"].size(); ++i) {
      const auto& e = j["layer_tensors"][i];
      std::vector<int> layers = all;
      if (e.is_object() && e.contains("layers")) {
        if (!e["layers"].is_string()) return make_error("{}: layer_tensors[{}]: \"layers\" must be a string", source, i);
        auto set = parse_layer_set(e["layers"].get<std::string>(), static_cast<int>(m.facts.n_layer));
        if (!set.ok()) return make_error("{}: layer_tensors[{}]: {}", source, i, set.message());
        layers = std::move(set).value();
      }
      APEX_RETURN_IF_ERROR(add(e, fmt::format("layer_tensors[{}]", i), "blk", layers));
    }
  }
  if (m.tensors.empty()) return make_error("{}: no tensors (give \"tensors\" and/or \"layer_tensors\")", source);
  return m;
}

Result<ShapesModel> read_shapes_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open shapes file: {}", path, std::strerror(errno));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error("{}: not valid JSON (byte {}): {}", path, e.byte, e.what());
  }
  return parse_shapes_json(j, path);
}

}  // namespace apex::plan
