// config.json for a GGUF MoE model, with transformers' field names for the
// family (Qwen2MoeConfig / Qwen3MoeConfig), derived from the GGUF
// hyper-parameter keys llama.cpp's converter wrote from them.
#pragma once

#include <nlohmann/json.hpp>

#include "export/hf_tensors.h"
#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::xport {

// Errors name the GGUF file and the missing or out-of-range key.
Result<nlohmann::ordered_json> hf_config_from_gguf(const gguf::File& file, const ArchTensors& arch);

}  // namespace apex::xport
