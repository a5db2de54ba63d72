// Causal self-attention over a KV cache. As llama.cpp's CPU backend does by
// default (no flash attention): K and V are stored in F16, the query is
// rounded to F16 for q.k, scores are scaled and soft-maxed in F32, and the
// probabilities are rounded to F16 before they weight the V rows.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/config.h"

namespace apex::engine {

class KvCache {
 public:
  KvCache(int n_layer, int64_t n_ctx, int64_t kv_dim);
  // Rows of different widths for K and V (latent attention).
  KvCache(int n_layer, int64_t n_ctx, int64_t k_dim, int64_t v_dim);
  int64_t n_ctx() const { return n_ctx_; }
  // Stores one position's K and V rows (k_dim / v_dim floats, converted to F16).
  void store(int layer, int64_t pos, const float* k, const float* v);
  const uint16_t* k(int layer, int64_t pos) const { return &k_[offset(layer, pos, kv_dim_)]; }
  const uint16_t* v(int layer, int64_t pos) const { return &v_[offset(layer, pos, v_dim_)]; }
  int64_t v_stride() const { return v_dim_; }  // elements from one position's V row to the next

 private:
  size_t offset(int layer, int64_t pos, int64_t dim) const {
    return (static_cast<size_t>(layer) * n_ctx_ + pos) * dim;
  }
  int64_t n_ctx_, kv_dim_, v_dim_;
  std::vector<uint16_t> k_, v_;  // [layer][pos][k_dim], [layer][pos][v_dim]
};

// Heads and widths of one attention call: query head h reads KV head
// h / (n_head / n_head_kv); q rows are n_head * k_dim, out rows n_head * v_dim.
struct AttentionShape {
  int n_head, n_head_kv;
  int64_t k_dim, v_dim;
  float scale;  // applied to q.k before the softmax
};

// q: n_tokens rows of q_dim floats (after RoPE), token t at position pos0 + t,
// whose K/V are already in the cache. out: n_tokens rows of q_dim floats.
// Query head h reads KV head h / (n_head / n_head_kv).
// sinks (optional, n_head floats): head h's softmax also counts a logit
// sinks[h] that weights no value (gpt-oss). n_swa > 0: a query at position p
// sees only positions p - n_swa + 1 .. p (standard sliding window).
void attention(const ModelConfig& c, const KvCache& cache, int layer, const float* q,
               int64_t n_tokens, int64_t pos0, float* out, const float* sinks = nullptr,
               int64_t n_swa = 0);
// The same with explicit widths and scale (latent attention).
void attention(const AttentionShape& s, const KvCache& cache, int layer, const float* q,
               int64_t n_tokens, int64_t pos0, float* out, const float* sinks = nullptr,
               int64_t n_swa = 0);

}  // namespace apex::engine
