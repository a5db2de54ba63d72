#include "imatrix/tools.h"

#include <algorithm>
#include <limits>
#include <map>


namespace apex::imatrix {

std::vector<EntryStats> entry_stats(const Imatrix& m) {
  std::vector<EntryStats> out;
  for (const Entry& e : m.entries) {
    EntryStats s;
    s.name = e.name;
    s.n_mat = e.n_mat();
    s.ne0 = s.n_mat > 0 ? static_cast<int64_t>(e.sums.size()) / s.n_mat : 0;
    if (!e.counts.empty()) {
      s.count_min = *std::min_element(e.counts.begin(), e.counts.end());
      s.count_max = *std::max_element(e.counts.begin(), e.counts.end());
    }
    if (m.format == Format::kGguf) {
      s.mats_without_data = std::count_if(e.counts.begin(), e.counts.end(), [](int64_t c) { return c <= 0; });
    }
    if (!e.values.empty()) {
      double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
      for (float v : e.values) {
        lo = std::min<double>(lo, v);
        hi = std::max<double>(hi, v);
        sum += v;
      }
      s.value_min = lo;
      s.value_max = hi;
      s.value_mean = sum / static_cast<double>(e.values.size());
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<Imatrix> merge(const std::vector<Imatrix>& inputs, const std::vector<std::string>& names,
                      int32_t chunk_size) {
  if (inputs.empty()) return make_error("imatrix merge: no inputs");
  if (chunk_size <= 0) return make_error("imatrix merge: chunk size must be > 0, got {}", chunk_size);
  struct Acc {
    std::vector<float> sums;  // float, as llama-imatrix accumulates
    std::vector<int64_t> counts;
  };
  std::map<std::string, Acc> acc;  // sorted by name, as the GGUF writer stores them
  Imatrix out;
  out.format = Format::kGguf;
  out.chunk_size = chunk_size;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Imatrix& in = inputs[k];
    const std::string& from = k < names.size() ? names[k] : std::to_string(k);
    for (const Entry& e : in.entries) {
      Acc& a = acc[e.name];
      if (!a.sums.empty() && a.sums.size() != e.sums.size()) {
        return make_error("{}: imatrix entry '{}' has {} values, the earlier inputs {}: not the same model", from,
                          e.name, e.sums.size(), a.sums.size());
      }
      if (a.sums.empty()) a.sums.assign(e.sums.size(), 0.0f);
      if (in.format == Format::kLegacyDat) {
        const float scale = static_cast<float>(chunk_size);
        for (size_t i = 0; i < e.sums.size(); ++i) a.sums[i] += e.sums[i] * scale;
        if (a.counts.empty()) a.counts.assign(1, 0);
        for (int64_t& c : a.counts) c += e.counts[0] * chunk_size;
        continue;
      }
      if (a.counts.empty()) {
        a.counts.assign(e.counts.size(), 0);
      } else if (a.counts.size() == 1 && e.counts.size() > 1) {
        a.counts.assign(e.counts.size(), a.counts[0]);
      } else if (a.counts.size() != e.counts.size()) {
        return make_error("{}: imatrix entry '{}' has {} matrices, the earlier inputs {}: not the same model", from,
                          e.name, e.counts.size(), a.counts.size());
      }
      for (size_t i = 0; i < e.sums.size(); ++i) a.sums[i] += e.sums[i];
      for (size_t j = 0; j < e.counts.size(); ++j) a.counts[j] += e.counts[j];
    }
    out.datasets.insert(out.datasets.end(), in.datasets.begin(), in.datasets.end());
  }
  int64_t max_count = 0;
  for (auto& [name, a] : acc) {
    if (a.sums.size() % a.counts.size() != 0) {
      return make_error("imatrix merge: entry '{}': {} values do not split into {} matrices", name, a.sums.size(),
                        a.counts.size());
    }
    for (int64_t c : a.counts) max_count = std::max(max_count, c);
    Entry e;
    e.name = name;
    e.sums = std::move(a.sums);
    e.counts = std::move(a.counts);
    compute_values(Format::kGguf, e);
    out.entries.push_back(std::move(e));
  }
  out.chunk_count = static_cast<int32_t>(std::min<int64_t>(max_count / chunk_size, INT32_MAX));
  out.reindex();
  return out;
}

}  // namespace apex::imatrix
