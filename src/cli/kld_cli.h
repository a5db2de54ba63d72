// Shared by `apex perplexity --kl-divergence-base` and `apex kld`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/weights.h"
#include "util/status.h"

namespace apex::cli {

// The evaluation stream: ids from --tokens, else the text tokenized by the
// model's vocabulary with add_special (as llama-perplexity).
Result<std::vector<int32_t>> read_eval_tokens(const engine::Model& model, const std::string& text_file,
                                              const std::string& token_file);

// KL divergence of `model` against a llama-perplexity logits file, printed as
// text or --json; `tokens`, when given, must be the file's stream. Returns the
// exit code.
int run_kl_divergence(const engine::Model& model, const std::string& base_path,
                      std::optional<std::vector<int32_t>> tokens, int64_t n_batch, bool json);

}  // namespace apex::cli
