// The forward pass of Gated DeltaNet hybrids (llama.cpp's qwen35moe,
// src/models/qwen35moe.cpp). Every block is
//   h = rmsnorm(x) * attn_norm
//   x = x + (recurrent block ? delta_net_block(h) : gated_attention(h))
//   x = x + moe_ffn(rmsnorm(x) * post_attention_norm)
// where the FFN is the routed experts plus the sigmoid-gated shared expert
// (moe.cpp) and gated attention is
//   [q | gate] per head = h Wq (Wq twice as wide), k = h Wk, v = h Wv
//   q, k: per-head RMS norm, then IMROPE over the first n_rot dimensions
//   out = (softmax(q k^T / sqrt(head_dim)) v) * sigmoid(gate), then Wo.
// Shapes are written [rows][cols] with T = tokens in the batch.
#include <tbb/parallel_for.h>

#include <cmath>

#include "engine/delta_net.h"
#include "engine/forward.h"
#include "engine/matmul.h"
#include "engine/moe.h"
#include "engine/ops.h"

namespace apex::engine {
namespace {

// Interleaved multi-section RoPE for a text token (ggml's IMROPE with the
// t, h and w position components all equal to pos and the fourth 0): pair
// (i, i + n_rot/2) turns by pos * base^(-2i/n_rot) unless its section is the
// fourth, which does not turn. Dimensions from n_rot on are left alone.
void rope_imrope_text(float* head, int64_t n_rot, int64_t pos, const std::array<int, 4>& sections,
                      float freq_base, float freq_scale) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  const int sect_dims = sections[0] + sections[1] + sections[2] + sections[3];
  float theta_pos = static_cast<float>(pos);
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int sector = static_cast<int>(i % sect_dims);
    const bool positional = (sector % 3 == 1 && sector < 3 * sections[1]) ||
                            (sector % 3 == 2 && sector < 3 * sections[2]) ||
                            (sector % 3 == 0 && sector < 3 * sections[0]);
    const float t = freq_scale * (positional ? theta_pos : 0.0f);
    const float cs = std::cos(t), sn = std::sin(t);
    const float x0 = head[i], x1 = head[i + half];
    head[i] = x0 * cs - x1 * sn;
    head[i + half] = x0 * sn + x1 * cs;
    theta_pos *= theta_scale;
  }
}

void gated_attention(const ModelConfig& c, const LayerWeights& l, KvCache& cache, int il,
                     const float* h, int64_t T, int64_t pos0, float* out,
                     MatmulObserver* observer) {
  const int64_t HD = c.head_dim, QD = c.q_dim(), KVD = c.kv_dim();
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  std::vector<float> qg = buf(T * 2 * QD), q = buf(T * QD), gate = buf(T * QD);
  std::vector<float> k = buf(T * KVD), v = buf(T * KVD), attn = buf(T * QD);
  // qg[T][2 QD]: per head, the queries and their gate.
  project_qkv(l, h, T, observer, qg.data(), k.data(), v.data());
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    for (int hh = 0; hh < c.n_head; ++hh) {
      // Row layout of the gated projection: per head, HD query values then
      // HD gate values.
      const float* src = &qg[t * 2 * QD + hh * 2 * HD];
      float* qh = &q[t * QD + hh * HD];
      std::copy_n(src, HD, qh);
      std::copy_n(src + HD, HD, &gate[t * QD + hh * HD]);
      rms_norm(qh, l.q_norm.f32(), c.rms_eps, HD, qh);
      rope_imrope_text(qh, c.n_rot, pos0 + t, c.rope_sections, c.rope_freq_base, c.rope_freq_scale);
    }
    for (int hh = 0; hh < c.n_head_kv; ++hh) {
      float* kh = &k[t * KVD + hh * HD];
      rms_norm(kh, l.k_norm.f32(), c.rms_eps, HD, kh);
      rope_imrope_text(kh, c.n_rot, pos0 + t, c.rope_sections, c.rope_freq_base, c.rope_freq_scale);
    }
  });
  for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &k[t * KVD], &v[t * KVD]);
  attention(c, cache, il, q.data(), T, pos0, attn.data());
  for (int64_t i = 0; i < T * QD; ++i) attn[i] *= logistic(gate[i]);
  if (observer != nullptr) observer->on_matmul(l.wo, -1, attn.data(), T);
  matmul(l.wo, 0, attn.data(), T, out, c.n_embd);
}

// Routed experts (moe.cpp) plus the shared expert scaled by
// ggml_sigmoid(ffn_gate_inp_shexp . x): qwen35moe's graph uses a true
// sigmoid where qwen2moe's computes silu(t) / t, and its gate is a matrix
// product with an F32 [n_embd, 1] weight (a dot summed in double).
void moe_with_sigmoid_shared_expert(const ModelConfig& c, const LayerWeights& l, const float* h,
                                    int64_t T, float* out, MatmulObserver* observer) {
  LayerWeights routed = l;
  routed.up_shexp = Weight{};
  moe_ffn(c, routed, h, T, out, observer);
  if (!l.up_shexp) return;
  const int64_t E = c.n_embd;
  std::vector<float> shared(static_cast<size_t>(T * E));
  swiglu_ffn(l.gate_shexp, l.up_shexp, l.down_shexp, 0, h, T, shared.data(), observer);
  if (observer != nullptr) observer->on_matmul(l.shexp_gate_inp, -1, h, T);
  const float* g = l.shexp_gate_inp.f32();
  for (int64_t t = 0; t < T; ++t) {
    double dot = 0.0;
    for (int64_t i = 0; i < E; ++i) dot += static_cast<double>(g[i] * h[t * E + i]);
    const float gate = logistic(static_cast<float>(dot));
    for (int64_t i = 0; i < E; ++i) out[t * E + i] += shared[t * E + i] * gate;
  }
}

}  // namespace

void forward_delta_net_hybrid(const Model& model, KvCache& cache, RecurrentState& state,
                              const int32_t* tokens, int64_t T, int64_t pos0, float* logits,
                              bool last_only, MatmulObserver* observer) {
  const ModelConfig& c = model.config;
  const int64_t E = c.n_embd;
  std::vector<float> x(static_cast<size_t>(T * E)), h(x.size()), y(x.size());
  embed_tokens(model, tokens, T, x.data());
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights& l = model.weights.layers[static_cast<size_t>(il)];
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.attn_norm.f32(), c.rms_eps, E, &h[t * E]);
    if (c.is_recurrent(il)) {
      delta_net_block(c, l, il, state, h.data(), T, y.data(), observer);
    } else {
      gated_attention(c, l, cache, il, h.data(), T, pos0, y.data(), observer);
    }
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.ffn_norm.f32(), c.rms_eps, E, &h[t * E]);
    moe_with_sigmoid_shared_expert(c, l, h.data(), T, y.data(), observer);
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
  }
  output_logits(model, x.data(), T, last_only, logits, observer);
}

}  // namespace apex::engine
