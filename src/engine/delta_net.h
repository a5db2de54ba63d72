// Gated DeltaNet linear attention (Qwen3-Next / Qwen3.5 "linear_attention"
// blocks), as llama.cpp runs it on the CPU (src/models/qwen35moe.cpp and
// delta-net-base.cpp for the graph, ggml-cpu's ssm_conv and gated_delta_net
// for the kernels).
//
// Per token, with S = ssm_d_state and value head h reading key head
// h % n_group (the converter orders value heads so that this tiling holds):
//   qkv = attn_qkv x, z = attn_gate x                          [conv_dim], [value_dim]
//   c   = silu(causal conv1d of qkv over the last d_conv tokens)   per channel
//   q, k = L2-normalised heads of c, v = the value heads of c
//   beta = sigmoid(ssm_beta x), g = ssm_a * softplus(ssm_alpha x + ssm_dt)
//   M_h <- exp(g_h) M_h;  M_h <- M_h + k (beta_h (v_h - M_h^T k))^T
//   o_h = M_h^T q / sqrt(S)
//   y = ssm_out (rmsnorm(o_h) * ssm_norm * silu(z_h))
// The state a sequence carries between batches is the last d_conv - 1 rows
// of qkv (conv state) and the S x S matrix M_h of every value head.
//
// Prompts and generation run the same recurrence: a batch walks its tokens
// in order per head (heads in parallel), exactly as ggml's fused
// gated_delta_net kernel does for any number of tokens. llama.cpp's chunked
// graph form (build_delta_net_chunking) computes the same values with
// matrix products; on a CPU the per-token walk is what the oracle runs.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/config.h"
#include "engine/observer.h"
#include "engine/weights.h"

namespace apex::engine {

// The recurrent memory of one sequence for every Gated DeltaNet block of a
// model (empty for models without such blocks).
class RecurrentState {
 public:
  RecurrentState() = default;
  explicit RecurrentState(const ModelConfig& c);
  // Back to the empty sequence (all zeros).
  void clear();
  // (d_conv - 1) rows of conv_dim floats, oldest first.
  float* conv(int layer) { return conv_.data() + conv_offset_[static_cast<size_t>(layer)]; }
  // n_v_heads matrices of S x S floats; row j of head h's matrix holds
  // column j of M_h (what the kernel reads contiguously).
  float* ssm(int layer) { return ssm_.data() + ssm_offset_[static_cast<size_t>(layer)]; }

 private:
  std::vector<size_t> conv_offset_, ssm_offset_;
  std::vector<float> conv_, ssm_;
};

// One Gated DeltaNet block over n_tokens consecutive tokens of the sequence
// whose state is `state`: x is the normed input (n_tokens x n_embd), out
// receives the block's output before the residual add (n_tokens x n_embd).
void delta_net_block(const ModelConfig& c, const LayerWeights& l, int layer, RecurrentState& state,
                     const float* x, int64_t n_tokens, float* out,
                     MatmulObserver* observer = nullptr);

// ggml's softplus: x above 20 is returned as is, else log(1 + exp(x)).
float softplus(float x);
// 1 / (1 + exp(-x)) as ggml_sigmoid computes it.
float logistic(float x);

}  // namespace apex::engine
