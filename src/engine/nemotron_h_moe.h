// nemotron_h_moe (Nemotron-H MoE, Nemotron-3 Nano): the pieces the engine's
// tables point at (config.cpp's ArchTraits row, weights.cpp's per-architecture
// loader, forward.cpp's ForwardKind table). forward_nemotron_h_moe.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "engine/attention.h"
#include "engine/config.h"
#include "engine/delta_net.h"
#include "engine/observer.h"
#include "engine/weights.h"
#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::engine {

// The ssm.* keys, the block kinds (per-block attention.head_count_kv and
// feed_forward_length arrays) and the routing keys.
Status read_nemotron_h_keys(const gguf::File& f, const std::string& arch, ModelConfig& c);

// Block il's tensors (Mamba-2, attention or MoE FFN by its kind).
Status load_nemotron_h_layer(const gguf::File& f, const ModelConfig& c, int il, LayerWeights& l);

// One batch through the network (ForwardKind::kMamba2Hybrid): attention
// blocks use `cache`, Mamba-2 blocks read and update `state`.
void forward_mamba2_hybrid(const Model& model, KvCache& cache, RecurrentState& state,
                           const int32_t* tokens, int64_t n_tokens, int64_t pos0, float* logits,
                           bool last_only, MatmulObserver* observer = nullptr);

}  // namespace apex::engine
