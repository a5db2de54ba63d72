// The forward pass of deepseek2 (DeepSeek-V2/V3, Kimi-K2; llama.cpp's
// src/models/deepseek2.cpp) for MLA files, in the "absorbed" form llama.cpp
// runs: the cache holds one latent row per token and every head attends to
// it (MQA), with attn_k_b folded into the query and attn_v_b applied after
// the attention. Every block is
//   h = rmsnorm(x) * attn_norm
//   q[T][H][k_mla] = wq_b (rmsnorm(wq_a h) * q_a_norm)     (or wq h)
//   [c | k_pe] = wkv_a_mqa h;  c = rmsnorm(c) * kv_a_norm   c: kv_lora, k_pe: n_rot
//   q = [q_nope | q_pe];  q_pe, k_pe: RoPE (NORM pairs, YaRN when scaled)
//   Q[t][h] = [wk_b[h] q_nope[t][h] | q_pe[t][h]]            kv_lora + n_rot
//   K[t] = [c | k_pe] (F16 cache), V[t] = c
//   o[t][h] = wv_b[h] softmax(Q K^T * kq_scale) V            v_mla
//   x = x + wo o
//   x = x + (block < n_dense_lead ? swiglu FFN : routed experts + shared experts)(rmsnorm(x) * ffn_norm)
// Routing (moe.cpp's route): softmax or sigmoid of the router logits; the
// selection adds exp_probs_b when the file has it (the weights do not); with
// expert groups only the n_group_used groups with the largest sum of their
// two best scores compete; the top-k weights are optionally renormalised,
// then scaled. The shared experts are added without a gate.
// Shapes are written [rows][cols] with T = tokens in the batch.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "engine/delta_net.h"
#include "engine/forward.h"
#include "engine/matmul.h"
#include "engine/moe.h"
#include "engine/ops.h"

namespace apex::engine {
namespace {

void observe(MatmulObserver* observer, const Weight& w, int mat, const float* x, int64_t n) {
  if (observer != nullptr) observer->on_matmul(w, mat, x, n);
}

// y[t * y_stride + r] = W[mat] x[t * x_stride ..] for T rows.
void project(const Weight& w, int64_t mat, const float* x, int64_t T, int64_t x_stride, float* y,
             int64_t y_stride, Activations& act) {
  prepare_activations(w.type, x, T, w.n_in, x_stride, act);
  matmul(w, mat, act, y, y_stride);
}

// Multi-head latent attention of T tokens at positions pos0.. (the file
// comment's formulas); out: T rows of n_embd.
void latent_attention(const ModelConfig& c, const LayerWeights& l, KvCache& cache, int il,
                      const float* h, int64_t T, int64_t pos0, float* out, MatmulObserver* observer) {
  const int64_t E = c.n_embd, H = c.n_head, kv = c.kv_lora_rank, rope = c.n_rot;
  const int64_t k_mla = c.head_dim_k_mla, nope = k_mla - rope, v_mla = c.head_dim_v_mla;
  const int64_t qk = kv + rope;  // the latent query/key width
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  Activations act;

  // q[T][H * k_mla]
  std::vector<float> q = buf(T * H * k_mla);
  if (l.wq_a) {
    const int64_t r = c.q_lora_rank;
    std::vector<float> qa = buf(T * r);
    observe(observer, l.wq_a, -1, h, T);
    project(l.wq_a, 0, h, T, E, qa.data(), r, act);
    for (int64_t t = 0; t < T; ++t) rms_norm(&qa[t * r], l.q_a_norm.f32(), c.rms_eps, r, &qa[t * r]);
    observe(observer, l.wq_b, -1, qa.data(), T);
    project(l.wq_b, 0, qa.data(), T, r, q.data(), H * k_mla, act);
  } else {
    observe(observer, l.wq, -1, h, T);
    project(l.wq, 0, h, T, E, q.data(), H * k_mla, act);
  }
  // ckv[T][kv + rope] = [c | k_pe]
  std::vector<float> ckv = buf(T * qk);
  observe(observer, l.wkv_a_mqa, -1, h, T);
  project(l.wkv_a_mqa, 0, h, T, E, ckv.data(), qk, act);

  // RoPE on k_pe and q_pe, RMS norm of c; Q gets q_pe in its last n_rot dims.
  std::vector<float> Q = buf(T * H * qk);
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    float* row = &ckv[t * qk];
    rope_ext(row + kv, rope, pos0 + t, RopeType::kNorm, c.rope_freq_base, c.rope_freq_scale, c.yarn);
    rms_norm(row, l.kv_a_norm.f32(), c.rms_eps, kv, row);
    for (int64_t hh = 0; hh < H; ++hh) {
      float* qpe = &Q[(t * H + hh) * qk + kv];
      std::copy_n(&q[(t * H + hh) * k_mla + nope], rope, qpe);
      rope_ext(qpe, rope, pos0 + t, RopeType::kNorm, c.rope_freq_base, c.rope_freq_scale, c.yarn);
    }
  });
  // Q[t][h][0..kv) = wk_b[h] q_nope[t][h]: one product per head over the
  // batch, reading q_nope in place (rows H * k_mla apart).
  for (int64_t hh = 0; hh < H; ++hh) {
    const float* qn = &q[hh * k_mla];
    if (observer != nullptr) {
      std::vector<float> rows = buf(T * nope);
      for (int64_t t = 0; t < T; ++t) std::copy_n(qn + t * H * k_mla, nope, &rows[t * nope]);
      observe(observer, l.wk_b, static_cast<int>(hh), rows.data(), T);
    }
    project(l.wk_b, hh, qn, T, H * k_mla, &Q[hh * qk], H * qk, act);
  }
  for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &ckv[t * qk], &ckv[t * qk]);

  // kq_scale: llama.cpp pre-scales by YaRN's magnitude squared (the rope
  // factor it cancelled in attn_factor, times mscale_all_dim's).
  const float ln_factor = std::log(1.0f / c.rope_freq_scale);
  const float attn_factor_org = c.yarn.attn_factor * (1.0f + 0.1f * ln_factor);
  const float mscale = attn_factor_org * (1.0f + 0.1f * c.yarn.log_mul * ln_factor);
  const float kq_scale = 1.0f * mscale * mscale / std::sqrt(static_cast<float>(k_mla));
  std::vector<float> lat = buf(T * H * kv);  // [T][H][kv]
  attention(AttentionShape{c.n_head, 1, qk, kv, kq_scale}, cache, il, Q.data(), T, pos0, lat.data());

  // o[t][h] = wv_b[h] lat[t][h], heads side by side: [T][H * v_mla]
  std::vector<float> o = buf(T * H * v_mla);
  for (int64_t hh = 0; hh < H; ++hh) {
    if (observer != nullptr) {
      std::vector<float> rows = buf(T * kv);
      for (int64_t t = 0; t < T; ++t) std::copy_n(&lat[(t * H + hh) * kv], kv, &rows[t * kv]);
      observe(observer, l.wv_b, static_cast<int>(hh), rows.data(), T);
    }
    project(l.wv_b, hh, &lat[hh * kv], T, H * kv, &o[hh * v_mla], H * v_mla, act);
  }
  observe(observer, l.wo, -1, o.data(), T);
  project(l.wo, 0, o.data(), T, H * v_mla, out, E, act);
}

}  // namespace

void forward_deepseek2(const Model& model, KvCache& cache, RecurrentState&, const int32_t* tokens,
                       int64_t T, int64_t pos0, float* logits, bool last_only,
                       MatmulObserver* observer) {
  const ModelConfig& c = model.config;
  const int64_t E = c.n_embd;
  std::vector<float> x(static_cast<size_t>(T * E)), h(x.size()), y(x.size());
  embed_tokens(model, tokens, T, x.data());
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights& l = model.weights.layers[static_cast<size_t>(il)];
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.attn_norm.f32(), c.rms_eps, E, &h[t * E]);
    latent_attention(c, l, cache, il, h.data(), T, pos0, y.data(), observer);
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.ffn_norm.f32(), c.rms_eps, E, &h[t * E]);
    if (il < c.n_dense_lead) {
      swiglu_ffn(l.ffn_gate, l.ffn_up, l.ffn_down, 0, h.data(), T, y.data(), observer);
    } else {
      moe_ffn(c, l, h.data(), T, y.data(), observer);
    }
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
  }
  output_logits(model, x.data(), T, last_only, logits, observer);
}

}  // namespace apex::engine
