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

#include <string>

#include "gguf/gguf.h"
#include "imatrix/imatrix.h"
#include "synth/random_imatrix.h"

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
  synth::RandomImatrixOptions options;
  options.seed = argc > 3 ? static_cast<uint32_t>(std::stoul(argv[3])) : 1u;
  options.zero_fraction = 0.02f;
  const imatrix::Imatrix m = synth::random_imatrix(**file, options);
  const Status s = imatrix::save_gguf(m, argv[2]);
  if (!s.ok()) {
    fmt::print(stderr, "{}\n", s.message());
    return 1;
  }
  return 0;
}
