// Mamba-2 mixer blocks (Nemotron-H's "M" blocks), as llama.cpp runs them on
// the CPU (src/models/mamba-base.cpp build_mamba2_layer for the graph,
// ggml-cpu's ssm_conv and ssm_scan for the kernels).
//
// Per token, with DI = ssm_d_inner channels in NH heads of HD = DI / NH,
// NG groups of DS = ssm_d_state, head h reading group h / (NH / NG):
//   [z | x B C | dt] = ssm_in h                       [DI | DI + 2 NG DS | NH]
//   x B C = silu(causal conv1d over the last d_conv tokens + conv bias)
//   dt_h  = softplus(dt_h + ssm_dt.bias_h),  decay_h = exp(dt_h * ssm_a_h)
//   S_h   <- decay_h S_h + dt_h x_h B_g^T          (HD x DS per head)
//   y_h   = S_h C_g + ssm_d_h x_h
//   y     = grouped_rmsnorm(y * silu(z)) * ssm_norm   (NG groups of DI / NG)
//   out   = ssm_out y
// The state a sequence carries between batches is the last d_conv - 1 rows
// of x B C (conv state) and S_h of every head. Prompts and generation walk
// the tokens in order per head, as ggml's ssm_scan does for any batch.
#pragma once

#include <cstdint>

#include "engine/config.h"
#include "engine/delta_net.h"
#include "engine/observer.h"
#include "engine/weights.h"

namespace apex::engine {

// One Mamba-2 block over n_tokens consecutive tokens of the sequence whose
// state is `state` (RecurrentState sized for ModelConfig::ssm_d_inner): x is
// the normed input (n_tokens x n_embd), out receives the block's output
// before the residual add (n_tokens x n_embd).
void mamba2_block(const ModelConfig& c, const LayerWeights& l, int layer, RecurrentState& state,
                  const float* x, int64_t n_tokens, float* out, MatmulObserver* observer = nullptr);

}  // namespace apex::engine
