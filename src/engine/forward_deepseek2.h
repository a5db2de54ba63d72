// deepseek2 (DeepSeek-V2/V3, Kimi-K2): the keys and tensors only this
// architecture has, read for the table rows in config.cpp (read_keys) and
// weights.cpp (load_layer); the forward function itself is declared in
// forward.h with the others.
#pragma once

#include <string>

#include "engine/config.h"
#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::engine {

struct LayerWeights;

// Multi-head latent attention, FFN and YaRN keys (llama.cpp's deepseek2
// load_arch_hparams and llama_context's YaRN set-up).
Status read_deepseek2_keys(const gguf::File& f, const std::string& arch, ModelConfig& c);

// Block il's tensors as llama.cpp's deepseek2 loader creates them for MLA
// files (attn_k_b / attn_v_b split by the converter).
Status load_deepseek2_layer(const gguf::File& f, const ModelConfig& c, int il, LayerWeights& l);

}  // namespace apex::engine
