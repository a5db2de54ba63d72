// Feed-forward blocks: the dense SwiGLU FFN, the expert router every MoE
// architecture shares, and the routed-expert FFN with its optional shared
// expert (gated by a sigmoid, or added as is).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/config.h"
#include "engine/observer.h"
#include "engine/weights.h"

namespace apex::engine {

// The experts chosen for one token, best first, and their weights.
struct Routing {
  std::vector<int> experts;
  std::vector<float> weights;
};

// How one token's router logits become its experts and their weights, as
// llama.cpp's build_moe_ffn does it step by step; architectures differ only
// in this data:
//   probs    = softmax(logits) | sigmoid(logits) | logits (kSoftmaxWeight)
//   select   = probs + selection_bias (when given: DeepSeek-V3, glm4moe,
//              minimax-m2, nemotron_h_moe's exp_probs_b)
//   groups   (n_groups > 1): only the n_groups_used groups of consecutive
//              experts with the largest sum of their two best `select`
//              values compete (DeepSeek-V3)
//   experts  = the k largest `select` (ties: lower index first)
//   weights  = their unbiased probs; kSoftmaxWeight: softmax of those k
//              (gpt-oss); then divided by their sum when `renormalise` (the
//              sum added in double as ggml_sum_rows does, clamped below at
//              2^-14), times `scale` when it is neither 0 nor 1.
struct RouterRule {
  ExpertGating gating = ExpertGating::kSoftmax;
  int n_expert = 0;
  int k = 0;
  int n_groups = 0;
  int n_groups_used = 0;
  bool renormalise = false;
  float scale = 0.0f;
};

// The rule a model's config describes (expert_gating_func, expert_count,
// expert_used_count, expert groups, expert_weights_norm, expert_weights_scale).
RouterRule router_rule(const ModelConfig& c);

// selection_bias: n_expert floats or null.
Routing route(const RouterRule& rule, const float* router_logits, const float* selection_bias);

// out[t] = down(silu(gate x[t]) * up x[t]) for n_tokens rows of n_in floats.
// `observer` (optional) sees the inputs of the three products; `mat` is
// reported as the expert index for 3-D weights, -1 for 2-D ones.
void swiglu_ffn(const Weight& gate, const Weight& up, const Weight& down, int64_t mat,
                const float* x, int64_t n_tokens, float* out, MatmulObserver* observer = nullptr);

// The MoE FFN of one layer for n_tokens rows of x (n_embd floats each),
// written to out (n_tokens x n_embd): routed experts (router_rule(c), with
// exp_probs_b as the selection bias when the layer has it), plus the shared
// expert when the layer has one: gated by sigmoid(ffn_gate_inp_shexp . x),
// or added as is (ArchTraits::ungated_shared_expert). Tokens are grouped by expert so that each
// expert's matrices are multiplied once per batch.
void moe_ffn(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t n_tokens,
             float* out, MatmulObserver* observer = nullptr);

// The routed part alone, for routes chosen elsewhere (one per token, each
// of c.n_expert_used experts): out[t] = sum over s of weight_s * expert_s(x[t]).
void moe_experts(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t n_tokens,
                 const std::vector<Routing>& routes, float* out, MatmulObserver* observer = nullptr);

}  // namespace apex::engine
