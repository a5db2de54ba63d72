// Gemma 4 (llama.cpp's gemma4, src/models/gemma4.cpp) in the engine: the
// keys its loader reads beyond the common ones and the tensors of its
// blocks, which differ between sliding-window and global blocks. The
// forward pass is forward_gemma4 (forward.h).
#pragma once

#include <string>

#include "engine/config.h"
#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::engine {

struct ModelWeights;
struct LayerWeights;

// The sliding-window pattern, window, per-kind head widths, KV heads and
// RoPE bases, logit soft-capping. Refuses, in one line naming gemma4, what
// the forward pass does not implement (per-layer embeddings, shared KV).
Status read_gemma4_keys(const gguf::File& f, const std::string& arch, ModelConfig& c);

// rope_freqs (the global blocks' proportional RoPE), when any block is global.
Status load_gemma4_globals(const gguf::File& f, const ModelConfig& c, ModelWeights& w);
// Block il's tensors (sliding-window or global, dense FFN, optional experts).
Status load_gemma4_layer(const gguf::File& f, const ModelConfig& c, int il, LayerWeights& l);

}  // namespace apex::engine
