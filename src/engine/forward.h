// Running a model: a Context owns the KV cache, the recurrent state of any
// linear-attention blocks and the position, and evaluates tokens in batches
// (prompt processing) or one at a time (generation). The forward pass is
// one function per ForwardKind: forward.cpp's `forward` for transformers,
// forward_qwen35moe.cpp's for Gated DeltaNet hybrids.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/attention.h"
#include "engine/delta_net.h"
#include "engine/observer.h"
#include "engine/weights.h"
#include "util/status.h"

namespace apex::engine {

class Context {
 public:
  // n_ctx: KV cache positions (0: the model's training context).
  Context(const Model& model, int64_t n_ctx = 0);

  const Model& model() const { return model_; }
  int64_t n_ctx() const { return cache_.n_ctx(); }
  int64_t n_past() const { return n_past_; }
  // Forget the sequence (positions restart at 0, recurrent state zeroed).
  void reset() {
    n_past_ = 0;
    recurrent_.clear();
  }
  // Every later eval reports the inputs of its matrix products to `observer`
  // (null: none). The observer must outlive its use.
  void set_observer(MatmulObserver* observer) { observer_ = observer; }

  // Evaluates `tokens` at positions n_past.. in batches of at most n_batch
  // and appends them to the cache. With `logits` non-null it receives every
  // token's logits (tokens.size() rows of n_vocab); with `last_logits`
  // non-null, only the last token's. Errors: a token id outside the
  // vocabulary, or the cache would overflow.
  Status eval(std::span<const int32_t> tokens, std::vector<float>* logits,
              int64_t n_batch = 512, std::vector<float>* last_logits = nullptr);

 private:
  const Model& model_;
  KvCache cache_;
  RecurrentState recurrent_;
  int64_t n_past_ = 0;
  MatmulObserver* observer_ = nullptr;
};

// One batch through the network: n_tokens tokens at positions pos0.., their
// K/V written to the cache; logits (n_tokens x n_vocab) written when
// non-null. The logits of only the last row are computed when last_only.
// With `observer` set, it sees the input rows of every matrix product.
void forward(const Model& model, KvCache& cache, const int32_t* tokens, int64_t n_tokens,
             int64_t pos0, float* logits, bool last_only, MatmulObserver* observer = nullptr);

// The same for Gated DeltaNet hybrids (ForwardKind::kDeltaNetHybrid): the
// attention blocks use `cache`, the linear-attention blocks read and update
// `state`, which must hold the sequence's state after position pos0 - 1.
void forward_delta_net_hybrid(const Model& model, KvCache& cache, RecurrentState& state,
                              const int32_t* tokens, int64_t n_tokens, int64_t pos0,
                              float* logits, bool last_only, MatmulObserver* observer = nullptr);

// The same for GLM-4.5-style MoE (ForwardKind::kGlm4Moe, forward_glm4moe.cpp);
// `state` is unused (no recurrent blocks).
void forward_glm4moe(const Model& model, KvCache& cache, RecurrentState& state,
                     const int32_t* tokens, int64_t n_tokens, int64_t pos0, float* logits,
                     bool last_only, MatmulObserver* observer = nullptr);
// The same for transformers whose q/k norms span the whole projections
// (ForwardKind::kWholeQkNorm: minimax-m2, olmoe; forward_minimax_m2.cpp).
void forward_whole_qk_norm(const Model& model, KvCache& cache, const int32_t* tokens,
                           int64_t n_tokens, int64_t pos0, float* logits, bool last_only,
                           MatmulObserver* observer = nullptr);

// The same for multi-head latent attention models (ForwardKind::kLatentAttention,
// deepseek2; forward_deepseek2.cpp). `state` is unused.
void forward_deepseek2(const Model& model, KvCache& cache, RecurrentState& state,
                       const int32_t* tokens, int64_t n_tokens, int64_t pos0, float* logits,
                       bool last_only, MatmulObserver* observer = nullptr);
// The same for gpt-oss (ForwardKind::kGptOss, forward_gptoss.cpp); `state`
// is unused.
void forward_gptoss(const Model& model, KvCache& cache, RecurrentState& state,
                    const int32_t* tokens, int64_t n_tokens, int64_t pos0, float* logits,
                    bool last_only, MatmulObserver* observer = nullptr);
// The same for Gemma 4 (ForwardKind::kGemma4, forward_gemma4.cpp); `state`
// is unused.
void forward_gemma4(const Model& model, KvCache& cache, RecurrentState& state, const int32_t* tokens,
                    int64_t n_tokens, int64_t pos0, float* logits, bool last_only,
                    MatmulObserver* observer = nullptr);

// Building blocks every forward function shares.
// x[n_tokens][n_embd] = rows of token_embd (dequantized).
void embed_tokens(const Model& model, const int32_t* tokens, int64_t n_tokens, float* x);
// logits = (rmsnorm(x) * output_norm) . output for every row of x, or only
// the last when last_only; nothing when logits is null.
void output_logits(const Model& model, const float* x, int64_t n_tokens, bool last_only,
                   float* logits, MatmulObserver* observer);
// The attention projections of h[n_tokens][n_in]: q = h Wq, k = h Wk,
// v = h Wv, each row as wide as its weight's output (q may hold a gate
// beside the queries), plus attn_{q,k,v}.bias where the layer has them. h
// is converted once per weight type and the three products share one
// parallel loop; the observer sees h for each.
void project_qkv(const LayerWeights& l, const float* h, int64_t n_tokens, MatmulObserver* observer,
                 float* q, float* k, float* v);

}  // namespace apex::engine
