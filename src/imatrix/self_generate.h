// Calibration tokens sampled from the model itself, for users without a
// corpus (apex imatrix --self-generate N). Each sequence starts at BOS and is
// exactly one chunk long, so every imatrix chunk is one generated text:
// temperature softmax over the top-k logits, drawn with a seeded 64-bit
// Mersenne Twister, so the same model, settings and seed give the same
// tokens on every machine. A sampled end-of-sequence token ends the sequence
// early; the next one starts at BOS again (the chunk then holds two texts).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/weights.h"
#include "util/status.h"

namespace apex::imatrix {

struct SelfGenerateOptions {
  int64_t n_tokens = 0;       // wanted; rounded up to whole sequences of seq_len, at least 2
  int64_t seq_len = 512;      // tokens per sequence, BOS included (the imatrix chunk size)
  float temperature = 0.8f;   // > 0
  int top_k = 40;             // >= 1; 0 or more than the vocabulary: every token
  uint64_t seed = 42;
};

using GenerateCallback = std::function<void(int64_t done, int64_t total)>;

Result<std::vector<int32_t>> self_generate(const engine::Model& model, const SelfGenerateOptions& opts,
                                           const GenerateCallback& progress = {});

}  // namespace apex::imatrix
