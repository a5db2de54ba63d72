#include "imatrix/imatrix.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "imatrix/imatrix_io.h"

namespace apex::imatrix {

const char* format_name(Format f) {
  switch (f) {
    case Format::kLegacyDat:
      return "dat";
    case Format::kGguf:
      return "gguf";
  }
  return "?";
}

void Imatrix::reindex() {
  index_.clear();
  index_.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) index_.emplace(entries[i].name, i);
}

const Entry* Imatrix::find_entry(std::string_view tensor_name) const {
  // A hand-built Imatrix may not be indexed yet; fall back to a scan so that
  // find() never silently misses.
  if (index_.size() != entries.size()) {
    for (const Entry& e : entries) {
      if (e.name == tensor_name) return &e;
    }
    return nullptr;
  }
  auto it = index_.find(std::string(tensor_name));
  return it == index_.end() ? nullptr : &entries[it->second];
}

const std::vector<float>* Imatrix::find(std::string_view tensor_name) const {
  const Entry* e = find_entry(tensor_name);
  return e == nullptr ? nullptr : &e->values;
}

void compute_values(Format format, Entry& e) {
  e.values.assign(e.sums.size(), 0.0f);
  if (format == Format::kLegacyDat) {
    // .dat values were stored as mean * ncall; llama-quantize divides the
    // float by the call count converted to float.
    const int64_t ncall = e.counts.empty() ? 0 : e.counts[0];
    if (ncall > 0) {
      const float div = static_cast<float>(ncall);
      for (size_t i = 0; i < e.sums.size(); ++i) e.values[i] = e.sums[i] / div;
    } else {
      e.values = e.sums;
    }
    return;
  }
  // GGUF sums are raw: each matrix (expert) is divided by its own row count.
  const size_t n_mat = e.counts.size();
  const size_t ne0 = e.sums.size() / n_mat;
  for (size_t j = 0; j < n_mat; ++j) {
    const float count = static_cast<float>(e.counts[j]);
    for (size_t i = 0; i < ne0; ++i) {
      e.values[j * ne0 + i] = count > 0.0f ? e.sums[j * ne0 + i] / count : 1.0f;
    }
  }
}

namespace detail {

Status check_finite(const std::string& path, const Entry& e) {
  for (size_t i = 0; i < e.values.size(); ++i) {
    if (!std::isfinite(e.values[i])) {
      return make_error("{}: imatrix entry '{}' has a non-finite value ({}) at index {}", path,
                        e.name, e.values[i], i);
    }
  }
  return Status::Ok();
}

}  // namespace detail

Result<Imatrix> load(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return make_error("{}: cannot open imatrix file: {}", path, std::strerror(errno));
  uint32_t magic = 0;
  const size_t got = std::fread(&magic, 1, sizeof(magic), f);
  std::fclose(f);
  if (got == sizeof(magic) && magic == gguf::kMagic) return detail::load_gguf(path);
  return detail::load_dat(path);
}

void filter(Imatrix& m, const std::vector<std::string>& include,
            const std::vector<std::string>& exclude) {
  auto contains_any = [](const std::string& name, const std::vector<std::string>& parts) {
    for (const std::string& p : parts) {
      if (name.find(p) != std::string::npos) return true;
    }
    return false;
  };
  std::erase_if(m.entries, [&](const Entry& e) {
    if (!include.empty() && !contains_any(e.name, include)) return true;
    return contains_any(e.name, exclude);
  });
  m.reindex();
}

std::vector<gguf::KeyValue> quantize_metadata(const Imatrix& m, const std::string& path_as_given) {
  // llama-quantize copies strings into 128-byte override slots with strncpy
  // and a forced terminator, so at most 127 bytes survive (a NUL inside the
  // string ends it as well).
  auto slot = [](const std::string& s) {
    std::string out = s.substr(0, std::min<size_t>(s.size(), 127));
    const size_t nul = out.find('\0');
    if (nul != std::string::npos) out.resize(nul);
    return out;
  };
  std::vector<gguf::KeyValue> kvs;
  kvs.push_back({kKeyFile, gguf::Value(slot(path_as_given))});
  if (!m.datasets.empty()) kvs.push_back({kKeyDataset, gguf::Value(slot(m.datasets.front()))});
  kvs.push_back({kKeyEntries, gguf::Value(static_cast<uint32_t>(m.entries.size()))});
  if (m.chunk_count > 0) {
    kvs.push_back({kKeyChunks, gguf::Value(static_cast<uint32_t>(m.chunk_count))});
  }
  return kvs;
}

}  // namespace apex::imatrix
