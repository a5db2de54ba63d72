// The GGUF imatrix format (see imatrix.h for the layout).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "imatrix/imatrix_io.h"
#include "quant/type_id.h"

namespace apex::imatrix {
namespace {

constexpr std::string_view kSumsSuffix = ".in_sum2";
constexpr std::string_view kCountsSuffix = ".counts";
constexpr const char* kKeyDatasets = "imatrix.datasets";
constexpr const char* kKeyChunkCount = "imatrix.chunk_count";
constexpr const char* kKeyChunkSize = "imatrix.chunk_size";

bool strip_suffix(std::string& s, std::string_view suffix) {
  if (s.size() < suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  s.resize(s.size() - suffix.size());
  return true;
}

std::vector<float> read_f32(const gguf::File& file, const gguf::TensorInfo& t) {
  std::span<const uint8_t> bytes = file.tensor_data(t);
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// Metadata integers: upstream reads them with gguf_get_val_u32 (which aborts
// on any other type); any non-negative integer that fits is accepted here.
Status read_count_key(const gguf::File& file, const char* key, int32_t& out) {
  const gguf::KeyValue* kv = file.find(key);
  if (kv == nullptr) return Status::Ok();
  int64_t v = 0;
  if (!kv->value.as_int(v) || v < 0 || v > INT32_MAX) {
    return make_error("{}: {} must be a non-negative 32-bit integer, got {} {}", file.path(), key,
                      gguf::value_type_name(kv->value.type()), kv->value.to_string());
  }
  out = static_cast<int32_t>(v);
  return Status::Ok();
}

}  // namespace

namespace detail {

Result<Imatrix> load_gguf(const std::string& path) {
  APEX_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::open(path));
  Imatrix m;
  m.format = Format::kGguf;
  if (file->tensors().empty()) return make_error("{}: GGUF imatrix holds no tensors", path);

  const gguf::KeyValue* datasets = file->find(kKeyDatasets);
  if (datasets == nullptr || file->find(kKeyChunkCount) == nullptr ||
      file->find(kKeyChunkSize) == nullptr) {
    // llama-quantize refuses such a file: it cannot tell what the counts mean.
    return make_error("{}: missing imatrix metadata ({}, {} and {} are required)", path,
                      kKeyDatasets, kKeyChunkCount, kKeyChunkSize);
  }
  // A datasets key of another type is ignored, as upstream does.
  if (const gguf::Array* arr = datasets->value.get_if<gguf::Array>();
      arr != nullptr && arr->elem_type == gguf::ValueType::STRING) {
    for (const gguf::Value& v : arr->elems) {
      if (const std::string* s = v.get_if<std::string>()) m.datasets.push_back(*s);
    }
  }
  APEX_RETURN_IF_ERROR(read_count_key(*file, kKeyChunkCount, m.chunk_count));
  APEX_RETURN_IF_ERROR(read_count_key(*file, kKeyChunkSize, m.chunk_size));

  // Pair "<w>.in_sum2" with "<w>.counts"; other tensors are not imatrix data.
  std::map<std::string, std::pair<const gguf::TensorInfo*, const gguf::TensorInfo*>> pairs;
  for (const gguf::TensorInfo& t : file->tensors()) {
    std::string name = t.name;
    if (strip_suffix(name, kSumsSuffix)) {
      pairs[name].first = &t;
    } else if (strip_suffix(name, kCountsSuffix)) {
      pairs[name].second = &t;
    }
  }
  if (pairs.empty()) {
    return make_error("{}: GGUF file has no *.in_sum2 / *.counts tensors: not an imatrix", path);
  }
  for (const auto& [name, st] : pairs) {
    const auto [sums_t, counts_t] = st;
    if (sums_t == nullptr || counts_t == nullptr) {
      return make_error("{}: imatrix entry '{}' has {} but no {}", path, name,
                        sums_t ? kSumsSuffix : kCountsSuffix, sums_t ? kCountsSuffix : kSumsSuffix);
    }
    constexpr int32_t kF32 = static_cast<int32_t>(quant::TypeId::F32);
    if (sums_t->type != kF32 || counts_t->type != kF32) {
      return make_error("{}: imatrix entry '{}': in_sum2 and counts must be F32", path, name);
    }
    const int64_t nval = sums_t->n_elements();
    const int64_t ncounts = counts_t->n_elements();
    if (nval < 1 || ncounts < 1 || nval % ncounts != 0) {
      return make_error("{}: imatrix entry '{}': {} sums do not split into {} matrices", path, name,
                        nval, ncounts);
    }
    Entry e;
    e.name = name;
    e.sums = read_f32(*file, *sums_t);
    const std::vector<float> raw_counts = read_f32(*file, *counts_t);
    e.counts.resize(raw_counts.size());
    for (size_t j = 0; j < raw_counts.size(); ++j) {
      // Counts are stored as floats; upstream rounds them to integers.
      if (!std::isfinite(raw_counts[j]) || std::fabs(raw_counts[j]) > 9.0e18f) {
        return make_error("{}: imatrix entry '{}': count {} of matrix {} is not a valid number",
                          path, name, raw_counts[j], j);
      }
      e.counts[j] = std::lround(raw_counts[j]);
    }
    imatrix::compute_values(Format::kGguf, e);
    APEX_RETURN_IF_ERROR(check_finite(path, e));
    m.entries.push_back(std::move(e));
  }
  m.reindex();
  return m;
}

}  // namespace detail

Status save_gguf(const Imatrix& m, const std::string& path, int32_t legacy_chunk_size) {
  const bool from_dat = m.format == Format::kLegacyDat;
  const int32_t chunk = from_dat && m.chunk_size == 0 ? legacy_chunk_size : m.chunk_size;
  if (from_dat && chunk <= 0) {
    return make_error("{}: converting a .dat imatrix needs a chunk size > 0", path);
  }

  gguf::Layout layout;
  layout.set("general.type", gguf::Value(std::string("imatrix")));
  gguf::Array ds{gguf::ValueType::STRING, {}};
  for (const std::string& d : m.datasets) ds.elems.emplace_back(d);
  layout.set(kKeyDatasets, gguf::Value(std::move(ds)));
  layout.set(kKeyChunkCount, gguf::Value(static_cast<uint32_t>(std::max(m.chunk_count, 0))));
  layout.set(kKeyChunkSize, gguf::Value(static_cast<uint32_t>(std::max(chunk, 0))));

  std::vector<const Entry*> sorted;
  for (const Entry& e : m.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->name < b->name; });

  // Tensor bytes live here until the file is written (imatrix files are small).
  std::vector<std::vector<float>> blobs;
  blobs.reserve(sorted.size() * 2);
  for (const Entry* e : sorted) {
    if (e->name.empty() || e->sums.empty() || e->counts.empty() ||
        e->sums.size() % e->counts.size() != 0) {
      return make_error("{}: imatrix entry '{}' is malformed ({} values, {} counts)", path, e->name,
                        e->sums.size(), e->counts.size());
    }
    std::vector<float> sums = e->sums;
    std::vector<float> counts(e->counts.size());
    if (from_dat) {
      // One matrix: count = ncall chunks of `chunk` tokens, sums scaled alike
      // so that sums / count reproduces the .dat mean; ncall <= 0 marks raw
      // values, kept by using count = chunk.
      const int64_t ncall = e->counts[0];
      const float scale = static_cast<float>(chunk);
      for (float& v : sums) v *= scale;
      counts = {static_cast<float>(ncall > 0 ? ncall * chunk : chunk)};
    } else {
      for (size_t j = 0; j < counts.size(); ++j) counts[j] = static_cast<float>(e->counts[j]);
    }
    const int64_t n_mat = static_cast<int64_t>(counts.size());
    const int64_t ne0 = static_cast<int64_t>(sums.size()) / n_mat;
    gguf::TensorInfo ts;
    ts.name = e->name + std::string(kSumsSuffix);
    ts.ne = {ne0, n_mat};
    ts.type = static_cast<int32_t>(quant::TypeId::F32);
    ts.nbytes = sums.size() * sizeof(float);
    gguf::TensorInfo tc;
    tc.name = e->name + std::string(kCountsSuffix);
    tc.ne = {1, n_mat};
    tc.type = ts.type;
    tc.nbytes = counts.size() * sizeof(float);
    layout.tensors.push_back(std::move(ts));
    layout.tensors.push_back(std::move(tc));
    blobs.push_back(std::move(sums));
    blobs.push_back(std::move(counts));
  }
  std::vector<std::span<const uint8_t>> data;
  data.reserve(blobs.size());
  for (const auto& b : blobs) {
    data.emplace_back(reinterpret_cast<const uint8_t*>(b.data()), b.size() * sizeof(float));
  }
  return gguf::write_file(path, std::move(layout), data);
}

}  // namespace apex::imatrix
