// Feed-forward blocks: the dense SwiGLU FFN and the routed-expert FFN
// (softmax router, top-k experts, optional renormalisation of the k weights,
// optional sigmoid-gated shared expert).
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

// softmax(router logits) -> the k largest (ties: lower index first) ->
// weights, divided by their sum when `renormalise` (the sum clamped below at
// 2^-14 as llama.cpp does), times `scale` when it is neither 0 nor 1.
Routing route(const float* router_logits, int n_expert, int k, bool renormalise, float scale);

// DeepSeek-V3-style (expert_gating_func sigmoid): scores = sigmoid(logits);
// the k largest scores + bias (bias may be null) choose the experts, whose
// unbiased scores are the weights; then renormalise and scale as route().
Routing route_by_sigmoid(const float* router_logits, const float* bias, int n_expert, int k,
                      bool renormalise, float scale);
// The general rule (llama.cpp's build_moe_ffn): probabilities by `gating`
// (softmax over all experts, or a sigmoid per expert); the k experts chosen
// by probability + selection_bias[e] when selection_bias is non-null
// (DeepSeek-V3 / MiniMax-M2's exp_probs_b), but weighted by the unbiased
// probability; then renormalise and scale as above.
Routing route(const float* router_logits, int n_expert, int k, ExpertGating gating,
              const float* selection_bias, bool renormalise, float scale);

// out[t] = down(silu(gate x[t]) * up x[t]) for n_tokens rows of n_in floats.
// `observer` (optional) sees the inputs of the three products; `mat` is
// reported as the expert index for 3-D weights, -1 for 2-D ones.
void swiglu_ffn(const Weight& gate, const Weight& up, const Weight& down, int64_t mat,
                const float* x, int64_t n_tokens, float* out, MatmulObserver* observer = nullptr);

// The MoE FFN of one layer for n_tokens rows of x (n_embd floats each),
// written to out (n_tokens x n_embd): routed experts, plus the gated shared
// expert when the layer has one. Tokens are grouped by expert so that each
// expert's matrices are multiplied once per batch.
void moe_ffn(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t n_tokens,
             float* out, MatmulObserver* observer = nullptr);

// The routed part alone, for routes chosen elsewhere (one per token, each
// of c.n_expert_used experts): out[t] = sum over s of weight_s * expert_s(x[t]).
void moe_experts(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t n_tokens,
                 const std::vector<Routing>& routes, float* out, MatmulObserver* observer = nullptr);

}  // namespace apex::engine
