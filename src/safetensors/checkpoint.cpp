// Checkpoints: one .safetensors file, or shards listed by
// model.safetensors.index.json. The index is read whole (it is small and
// names every tensor); shards are opened only when a tensor in them is
// asked for, so a converter touching one layer at a time maps one shard at a
// time.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "safetensors/safetensors.h"

namespace apex::st {

namespace {

bool is_dir(const std::string& p) {
  struct stat sb {};
  return ::stat(p.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}
bool exists(const std::string& p) {
  struct stat sb {};
  return ::stat(p.c_str(), &sb) == 0;
}
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// An index may name shards only inside its own directory.
bool plain_file_name(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

constexpr uint64_t kMaxIndexBytes = uint64_t{100} << 20;

}  // namespace

Result<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::string& path) {
  auto ck = std::make_unique<Checkpoint>();
  std::string target = path;
  if (is_dir(path)) {
    const std::string index = (std::filesystem::path(path) / kIndexFileName).string();
    const std::string single = (std::filesystem::path(path) / kSingleFileName).string();
    if (exists(index)) {
      target = index;
    } else if (exists(single)) {
      target = single;
    } else {
      return make_error("{}: no {} or {} in this directory", path, kIndexFileName,
                        kSingleFileName);
    }
  }
  ck->path_ = target;
  ck->dir_ = std::filesystem::path(target).parent_path().string();
  if (ck->dir_.empty()) ck->dir_ = ".";

  if (!ends_with(target, ".json")) {
    APEX_ASSIGN_OR_RETURN(auto file, File::open(target));
    ck->metadata_ = file->metadata();
    const std::string base = std::filesystem::path(target).filename().string();
    for (const TensorInfo& t : file->tensors()) {
      ck->names_.push_back(t.name);
      ck->shard_of_[t.name] = base;
    }
    ck->shards_[base] = std::move(file);
    std::sort(ck->names_.begin(), ck->names_.end());
    return ck;
  }

  std::ifstream in(target, std::ios::binary);
  if (!in) return make_error("{}: cannot open: {}", target, std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(in.tellg());
  if (size > kMaxIndexBytes) {
    return make_error("{}: {} bytes, more than the {} byte limit for an index", target, size,
                      kMaxIndexBytes);
  }
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (!in) return make_error("{}: read error", target);

  nlohmann::json index;
  struct TooDeep {};
  try {
    // An index is {"metadata": {...}, "weight_map": {...}}: depth 2. Deeper
    // nesting is cut off before it is built, as in the file header.
    nlohmann::json::parser_callback_t limit = [](int depth, nlohmann::json::parse_event_t,
                                                 nlohmann::json&) {
      if (depth > kMaxJsonDepth) throw TooDeep{};
      return true;
    };
    index = nlohmann::json::parse(text, limit);
  } catch (const TooDeep&) {
    return make_error("{}: JSON nested deeper than {} levels", target, kMaxJsonDepth);
  } catch (const nlohmann::json::exception& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    return make_error("{}: invalid JSON: {}", target, msg);
  }
  if (!index.is_object()) return make_error("{}: not a JSON object", target);
  const auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) {
    return make_error("{}: no \"weight_map\" object", target);
  }
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string()) {
      return make_error("{}: weight_map entry of tensor '{}' is not a file name", target, it.key());
    }
    const std::string shard = it.value().get<std::string>();
    if (!plain_file_name(shard)) {
      return make_error("{}: tensor '{}' names shard '{}', which is not a file in this directory",
                        target, it.key(), shard);
    }
    ck->names_.push_back(it.key());
    ck->shard_of_[it.key()] = shard;
  }
  const auto md = index.find("metadata");
  if (md != index.end() && md->is_object()) {
    for (auto it = md->begin(); it != md->end(); ++it) {
      ck->metadata_[it.key()] = it.value().is_string() ? it.value().get<std::string>()
                                                       : it.value().dump();
    }
  }
  std::sort(ck->names_.begin(), ck->names_.end());
  return ck;
}

bool Checkpoint::contains(std::string_view name) const {
  return shard_of_.count(std::string(name)) != 0;
}

Result<TensorRef> Checkpoint::find(std::string_view name) {
  const auto it = shard_of_.find(std::string(name));
  if (it == shard_of_.end()) return make_error("{}: no tensor '{}'", path_, name);
  const std::string& shard = it->second;
  auto open_it = shards_.find(shard);
  if (open_it == shards_.end()) {
    const std::string shard_path = (std::filesystem::path(dir_) / shard).string();
    if (!exists(shard_path)) {
      return make_error("{}: shard {} (listed for tensor '{}') is absent", path_, shard_path, name);
    }
    auto file = File::open(shard_path);
    if (!file.ok()) return make_error("{} (shard of tensor '{}')", file.message(), name);
    open_it = shards_.emplace(shard, std::move(file).value()).first;
  }
  const File* f = open_it->second.get();
  const TensorInfo* info = f->find(name);
  if (info == nullptr) {
    return make_error("{}: tensor '{}' is missing from its shard {}", path_, name, f->path());
  }
  return TensorRef{f, info};
}

}  // namespace apex::st
