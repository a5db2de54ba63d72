// The general.* keys llama.cpp's converter writes for a local checkpoint:
// general.name and the name parts it guesses from the model id
// (config.json's _name_or_path when it looks like "org/model", else the
// directory name) — organization, basename, finetune, version, size label —
// and, when the name gives no size label, one computed from the parameter
// counts ("8x1.2B" for MoE models). gguf-py's Metadata heuristics
// (get_model_id_components, id_to_title, size_label) restated; a model card
// README.md is not read (its YAML front matter adds license/tags keys).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace apex::convert {

// Parameter counts as gguf-py's get_total_parameter_count gives them: 3-D
// "_exps." tensors count once per expert, everything else is shared.
struct ParamCounts {
  int64_t total = 0, shared = 0, expert = 0, expert_count = 0;
};
ParamCounts count_params(const std::vector<gguf::TensorInfo>& tensors);

// "1.2M", "30B", ... (model_weight_count_rounded_notation, two digits)
std::string rounded_count(int64_t n);
// gguf-py's size_label: "<experts>x<per-expert params>" or the total.
std::string size_label(const ParamCounts& p);

struct ModelIdParts {
  std::optional<std::string> name, organization, basename, finetune, version, size_label;
};
// get_model_id_components for "org/Model-Name-7B-Instruct-v0.1" style ids.
ModelIdParts model_id_parts(const std::string& model_id, int64_t total_params);
// "qwen3-moe" -> "Qwen3 Moe" (gguf-py's id_to_title).
std::string id_to_title(const std::string& s);

// Sets general.name ... general.size_label on `layout` in the converter's
// order. `dir_name` is the checkpoint directory's name.
void add_general_metadata(const std::optional<std::string>& name_or_path, const std::string& dir_name,
                          const ParamCounts& params, gguf::Layout& layout);

}  // namespace apex::convert
