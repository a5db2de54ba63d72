#include "pipeline/inspect.h"

#include <fmt/format.h>

#include <algorithm>

#include "gguf/gguf.h"
#include "quant/type_table.h"

namespace apex::pipeline {

Result<FileSummary> inspect_file(const std::string& path, size_t max_array_items) {
  APEX_ASSIGN_OR_RETURN(auto file, gguf::File::open(path));
  FileSummary s;
  s.path = path;
  s.version = file->version();
  s.file_bytes = file->file_size();
  s.alignment = file->alignment();
  for (const auto& kv : file->kvs()) s.metadata.emplace_back(kv.key, kv.value.to_string(max_array_items));
  file->get_string("apex.profile", s.apex_profile);
  file->get_string("apex.version", s.apex_version);
  file->get_string("apex.plan", s.apex_plan);
  for (const auto& t : file->tensors()) {
    TensorSummary ts;
    ts.name = t.name;
    ts.type = quant::type_name(static_cast<quant::TypeId>(t.type));
    ts.ne = t.ne;
    ts.bytes = t.nbytes;
    ts.n_elements = t.n_elements();
    s.tensor_bytes += ts.bytes;
    s.n_elements += ts.n_elements;
    auto it = std::find_if(s.by_type.begin(), s.by_type.end(),
                           [&](const auto& p) { return p.first == ts.type; });
    if (it == s.by_type.end()) {
      s.by_type.push_back({ts.type, {ts.bytes, ts.n_elements}});
    } else {
      it->second.first += ts.bytes;
      it->second.second += ts.n_elements;
    }
    s.tensors.push_back(std::move(ts));
  }
  return s;
}

namespace {
std::string shape_string(const std::vector<int64_t>& ne) {
  std::string out = "[";
  for (size_t i = 0; i < ne.size(); ++i) out += (i ? ", " : "") + std::to_string(ne[i]);
  return out + "]";
}
std::string human_bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", b / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.2f} KiB", b / double(1ull << 10));
  return fmt::format("{} B", b);
}
}  // namespace

std::string format_text(const FileSummary& s) {
  std::string out = fmt::format("{}: GGUF v{}, {} ({} bytes), alignment {}\n\n", s.path, s.version,
                                human_bytes(s.file_bytes), s.file_bytes, s.alignment);
  if (!s.apex_profile.empty()) {
    out += fmt::format("APEX tier: {} (apex {})\n  plan: {}\n\n", s.apex_profile,
                       s.apex_version.empty() ? "?" : s.apex_version, s.apex_plan);
  }
  out += fmt::format("metadata ({} keys)\n", s.metadata.size());
  size_t key_width = 0;
  for (const auto& [k, v] : s.metadata) key_width = std::max(key_width, k.size());
  for (const auto& [k, v] : s.metadata) out += fmt::format("  {:<{}} = {}\n", k, key_width, v);
  size_t name_width = 4;
  for (const auto& t : s.tensors) name_width = std::max(name_width, t.name.size());
  out += fmt::format("\ntensors ({})\n  {:<{}}  {:<8} {:<24} {:>12} {:>7}\n", s.tensors.size(), "name",
                     name_width, "type", "shape", "bytes", "bpw");
  for (const auto& t : s.tensors) {
    out += fmt::format("  {:<{}}  {:<8} {:<24} {:>12} {:>7.3f}\n", t.name, name_width, t.type,
                       shape_string(t.ne), t.bytes, t.bits_per_weight());
  }
  out += "\nby type\n";
  for (const auto& [type, acc] : s.by_type) {
    out += fmt::format("  {:<8} {:>12}  {:>6.2f}%  {:.3f} bpw\n", type, human_bytes(acc.first),
                       s.tensor_bytes ? 100.0 * acc.first / s.tensor_bytes : 0.0,
                       acc.second ? 8.0 * acc.first / acc.second : 0.0);
  }
  out += fmt::format("\ntotal: {} tensors, {} parameters, {} of tensor data, {:.3f} bits per weight\n",
                     s.tensors.size(), s.n_elements, human_bytes(s.tensor_bytes),
                     s.n_elements ? 8.0 * s.tensor_bytes / s.n_elements : 0.0);
  return out;
}

nlohmann::json to_json(const FileSummary& s) {
  nlohmann::json j;
  j["path"] = s.path;
  j["version"] = s.version;
  j["file_bytes"] = s.file_bytes;
  j["alignment"] = s.alignment;
  j["metadata"] = nlohmann::json::object();
  for (const auto& [k, v] : s.metadata) j["metadata"][k] = v;
  if (!s.apex_profile.empty()) {
    j["apex"] = {{"profile", s.apex_profile}, {"version", s.apex_version}, {"plan", s.apex_plan}};
  }
  j["tensors"] = nlohmann::json::array();
  for (const auto& t : s.tensors) {
    j["tensors"].push_back({{"name", t.name}, {"type", t.type}, {"shape", t.ne}, {"bytes", t.bytes},
                            {"n_elements", t.n_elements}, {"bpw", t.bits_per_weight()}});
  }
  j["totals"] = {{"tensors", s.tensors.size()}, {"n_elements", s.n_elements},
                 {"tensor_bytes", s.tensor_bytes},
                 {"bpw", s.n_elements ? 8.0 * s.tensor_bytes / s.n_elements : 0.0}};
  return j;
}

}  // namespace apex::pipeline
