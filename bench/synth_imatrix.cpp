// Writes an importance matrix in llama.cpp's GGUF imatrix format for every
// matrix of a model, with positive heavy-tailed values (lognormal, some
// exact zeros) like real activation statistics. Benchmarks use it to time
// the i-quant ftypes that need an imatrix without a calibration run.
//
//   synth_imatrix MODEL.gguf OUT.imatrix.gguf [SEED]
//
// Not a test and not a substitute for `apex imatrix`: the values carry no
// information about the model.
#include <fmt/format.h>

#include <random>
#include <string>

#include "gguf/gguf.h"
#include "imatrix/imatrix.h"

int main(int argc, char** argv) {
  using namespace apex;
  if (argc < 3) {
    fmt::print(stderr, "usage: {} MODEL.gguf OUT.imatrix.gguf [SEED]\n", argv[0]);
    return 2;
  }
  auto file = gguf::File::open(argv[1]);
  if (!file.ok()) {
    fmt::print(stderr, "{}\n", file.message());
    return 1;
  }
  std::mt19937 rng(argc > 3 ? static_cast<uint32_t>(std::stoul(argv[3])) : 1u);
  std::lognormal_distribution<float> lognormal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  constexpr int64_t kTokens = 512 * 8;  // as if 8 chunks of 512 tokens were seen
  imatrix::Imatrix m;
  m.format = imatrix::Format::kGguf;
  m.datasets = {"synthetic"};
  m.chunk_count = 8;
  m.chunk_size = 512;
  for (const auto& t : (*file)->tensors()) {
    if (t.ne.size() < 2 || t.name.find("norm") != std::string::npos) continue;
    imatrix::Entry e;
    e.name = t.name;
    const int64_t n_mat = t.ne.size() > 2 ? t.ne[2] : 1;
    e.counts.assign(static_cast<size_t>(n_mat), kTokens);
    e.sums.resize(static_cast<size_t>(t.ne[0] * n_mat));
    for (auto& v : e.sums) v = uni(rng) < 0.02f ? 0.0f : lognormal(rng) * kTokens;
    m.entries.push_back(std::move(e));
  }
  m.reindex();
  const Status s = imatrix::save_gguf(m, argv[2]);
  if (!s.ok()) {
    fmt::print(stderr, "{}\n", s.message());
    return 1;
  }
  return 0;
}
