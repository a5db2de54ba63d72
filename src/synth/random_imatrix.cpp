#include "synth/random_imatrix.h"

#include <random>

namespace apex::synth {

imatrix::Imatrix random_imatrix(const gguf::File& model, const RandomImatrixOptions& options) {
  std::mt19937 rng(options.seed);
  std::lognormal_distribution<float> lognormal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  const int64_t tokens = int64_t{options.chunk_count} * options.chunk_size;
  imatrix::Imatrix m;
  m.format = imatrix::Format::kGguf;
  m.datasets = {options.dataset};
  m.chunk_count = options.chunk_count;
  m.chunk_size = options.chunk_size;
  for (const auto& t : model.tensors()) {
    if (t.ne.size() < 2 || t.name.find("norm") != std::string::npos) continue;
    imatrix::Entry e;
    e.name = t.name;
    const int64_t n_mat = t.ne.size() > 2 ? t.ne[2] : 1;
    e.counts.assign(static_cast<size_t>(n_mat), tokens);
    e.sums.resize(static_cast<size_t>(t.ne[0] * n_mat));
    for (auto& v : e.sums) {
      const bool zero = options.zero_fraction > 0.0f && uni(rng) < options.zero_fraction;
      v = zero ? 0.0f : lognormal(rng) * static_cast<float>(tokens);
    }
    imatrix::compute_values(m.format, e);
    m.entries.push_back(std::move(e));
  }
  m.reindex();
  return m;
}

}  // namespace apex::synth
