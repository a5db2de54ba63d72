// The forward pass of Gemma 4 (llama.cpp's gemma4, src/models/gemma4.cpp).
//   x = token_embd[tok] * sqrt(n_embd)
//   per block (sliding-window or global, see below):
//     h    = rmsnorm(x) * attn_norm
//     q    = rope(rmsnorm_head(h Wq) * q_norm)
//     k    = rope(rmsnorm_head(h Wk) * k_norm)
//     v    = rmsnorm_head(h Wv), or of h Wk when the block has no attn_v
//     a    = x + rmsnorm(softmax(q k^T, 1.0 scale, window) v Wo) * post_attention_norm
//     f    = geglu_ffn(rmsnorm(a) * ffn_norm)                     (dense FFN)
//     MoE blocks: f = rmsnorm(f) * post_ffw_norm_1
//                   + rmsnorm(experts(rmsnorm(a) * pre_ffw_norm_2)) * post_ffw_norm_2
//     x    = (a + rmsnorm(f) * post_ffw_norm) * layer_output_scale
//   logits = softcap * tanh((rmsnorm(x) * output_norm . token_embd) / softcap)
// Sliding-window blocks see the last n_swa positions, have their own head
// width, KV heads and RoPE base; global blocks see everything and divide
// their RoPE frequencies by rope_freqs (1e30: the pair does not turn).
// The experts are routed by softmax over router(rmsnorm(a) / sqrt(n_embd) *
// ffn_gate_inp.scale), top-k renormalised, GELU-gated, each expert's output
// times its ffn_down_exps.scale. Shapes are [rows][cols], T = batch tokens.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "engine/forward.h"
#include "engine/matmul.h"
#include "engine/moe.h"
#include "engine/ops.h"
#include "quant/fp16.h"

namespace apex::engine {
namespace {

using Buf = std::vector<float>;
Buf buf(int64_t n) { return Buf(static_cast<size_t>(n)); }

void observe(MatmulObserver* observer, const Weight& w, int mat, const float* x, int64_t n) {
  if (observer != nullptr && w) observer->on_matmul(w, mat, x, n);
}

// NEOX RoPE over the whole head with optional per-pair frequency divisors,
// the angles built as ggml builds its cache (repeated multiplication).
void rope_neox(float* head, int64_t hd, int64_t pos, float base, float scale, const float* factors) {
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(hd));
  float theta = static_cast<float>(pos);
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float t = scale * (factors != nullptr ? theta / factors[i] : theta);
    const float c = std::cos(t), s = std::sin(t);
    const float x0 = head[i], x1 = head[i + half];
    head[i] = x0 * c - x1 * s;
    head[i + half] = x0 * s + x1 * c;
    theta *= theta_scale;
  }
}

// ggml's CPU GELU (tanh form) goes through a table indexed by the F16
// value of x, itself F16; beyond +-10 it is 0 or x. The table here is the
// same: every F16 input's GELU, computed once (the tanh per value was a
// quarter of gemma4's prompt time).
float gelu_f16(float h) {
  const float g = 0.5f * h * (1.0f + std::tanh(0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h)));
  return quant::fp16_to_fp32(quant::fp32_to_fp16(g));
}

const std::vector<float>& gelu_by_f16() {
  static const std::vector<float> table = [] {
    std::vector<float> t(size_t{1} << 16);
    for (uint32_t bits = 0; bits < t.size(); ++bits) {
      t[bits] = gelu_f16(quant::fp16_to_fp32(static_cast<uint16_t>(bits)));
    }
    return t;
  }();
  return table;
}

float gelu_table(float x, const float* table) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return table[quant::fp32_to_fp16(x)];
}

// out[i] = gelu(gate[i]) * up[i]
void geglu(const float* gate, const float* up, int64_t n, float* out) {
  const float* table = gelu_by_f16().data();
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_table(gate[i], table) * up[i];
}

// The dense FFN: down(gelu(gate x) * up x).
void geglu_ffn(const LayerWeights& l, const float* x, int64_t T, float* out, MatmulObserver* observer) {
  const int64_t ff = l.ffn_up.n_out;
  observe(observer, l.ffn_gate, -1, x, T);
  observe(observer, l.ffn_up, -1, x, T);
  Buf g = buf(T * ff), u = buf(T * ff);
  Activations act;
  prepare_activations(l.ffn_up.type, x, T, l.ffn_up.n_in, l.ffn_up.n_in, act);
  matmul(l.ffn_up, 0, act, u.data(), ff);
  if (l.ffn_gate.type != l.ffn_up.type) prepare_activations(l.ffn_gate.type, x, T, l.ffn_gate.n_in, l.ffn_gate.n_in, act);
  matmul(l.ffn_gate, 0, act, g.data(), ff);
  geglu(g.data(), u.data(), T * ff, g.data());
  observe(observer, l.ffn_down, -1, g.data(), T);
  matmul(l.ffn_down, 0, g.data(), T, out, l.ffn_down.n_out);
}

// The routed experts of one MoE block. `a` is the block's residual after
// attention (the router's input), `x` the experts' input.
void experts(const ModelConfig& c, const LayerWeights& l, const float* a, const float* x, int64_t T,
             float* out, MatmulObserver* observer) {
  const int64_t E = c.n_embd;
  const int k = c.n_expert_used, X = c.n_expert;
  // Router input: rmsnorm(a) without gain, / sqrt(n_embd), * ffn_gate_inp.scale.
  Buf r = buf(T * E);
  const float inv_sqrt_e = 1.0f / std::sqrt(static_cast<float>(E));
  for (int64_t t = 0; t < T; ++t) {
    float* rt = &r[t * E];
    rms_norm(&a[t * E], nullptr, c.rms_eps, E, rt);
    for (int64_t i = 0; i < E; ++i) rt[i] = rt[i] * inv_sqrt_e * l.router_scale.f32()[i];
  }
  Buf logits = buf(T * X);
  observe(observer, l.router, -1, r.data(), T);
  matmul(l.router, 0, r.data(), T, logits.data(), X);
  std::vector<Routing> routes(static_cast<size_t>(T));
  // llama.cpp's gemma4 graph renormalises and scales by 1 whatever the keys say.
  RouterRule rule = router_rule(c);
  rule.renormalise = true, rule.scale = 1.0f;
  for (int64_t t = 0; t < T; ++t) routes[t] = route(rule, &logits[t * X], nullptr);

  // Slot t * k + s holds token t's s-th expert (see moe.cpp).
  const bool fused = static_cast<bool>(l.gate_up_exps);
  const int64_t ff = l.down_exps.n_in, n_slots = T * k;
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(X)), toks(slots.size());
  for (int64_t t = 0; t < T; ++t) {
    for (int s = 0; s < k; ++s) {
      slots[static_cast<size_t>(routes[t].experts[s])].push_back(t * k + s);
      toks[static_cast<size_t>(routes[t].experts[s])].push_back(t);
    }
  }
  // gu[slot] = [gate | up] (2 ff), computed by one fused product or two.
  Buf gu = buf(n_slots * 2 * ff);
  Activations ax, gx;
  const Weight& first = fused ? l.gate_up_exps : l.up_exps;
  prepare_activations(first.type, x, T, E, E, ax);
  const bool gate_same = fused || l.gate_exps.type == l.up_exps.type;
  if (!gate_same) prepare_activations(l.gate_exps.type, x, T, E, E, gx);
  std::vector<MatmulJob> jobs;
  for (int e = 0; e < X; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n == 0) continue;
    if (fused) {
      jobs.push_back({&l.gate_up_exps, e, &ax, toks[e].data(), n, gu.data(), 2 * ff, slots[e].data()});
    } else {
      jobs.push_back({&l.gate_exps, e, gate_same ? &ax : &gx, toks[e].data(), n, gu.data(), 2 * ff, slots[e].data()});
      jobs.push_back({&l.up_exps, e, &ax, toks[e].data(), n, gu.data() + ff, 2 * ff, slots[e].data()});
    }
  }
  matmul_batch(jobs);
  Buf act = buf(n_slots * ff);
  for (int64_t s = 0; s < n_slots; ++s) geglu(&gu[s * 2 * ff], &gu[s * 2 * ff + ff], ff, &act[s * ff]);
  Buf eo = buf(n_slots * E);
  Activations dx;
  prepare_activations(l.down_exps.type, act.data(), n_slots, ff, ff, dx);
  jobs.clear();
  for (int e = 0; e < X; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n == 0) continue;
    jobs.push_back({&l.down_exps, e, &dx, slots[e].data(), n, eo.data(), E, slots[e].data()});
  }
  matmul_batch(jobs);
  if (observer != nullptr) {
    Buf rows;
    for (int e = 0; e < X; ++e) {
      const auto n = static_cast<int64_t>(slots[e].size());
      if (n == 0) continue;
      rows.resize(static_cast<size_t>(n * std::max(E, ff)));
      for (int64_t i = 0; i < n; ++i) std::copy_n(x + toks[e][i] * E, E, &rows[i * E]);
      if (fused) {
        observer->on_matmul(l.gate_up_exps, e, rows.data(), n);
      } else {
        observer->on_matmul(l.gate_exps, e, rows.data(), n);
        observer->on_matmul(l.up_exps, e, rows.data(), n);
      }
      for (int64_t i = 0; i < n; ++i) std::copy_n(&act[slots[e][i] * ff], ff, &rows[i * ff]);
      observer->on_matmul(l.down_exps, e, rows.data(), n);
    }
  }
  // Each expert's output times its scale, then its routing weight, summed
  // in routing order.
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * E;
    for (int s = 0; s < k; ++s) {
      const int e = routes[t].experts[s];
      const float w = routes[t].weights[s];
      const float sc = l.down_exps_scale ? l.down_exps_scale.f32()[e] : 1.0f;
      const float* y = &eo[(t * k + s) * E];
      for (int64_t i = 0; i < E; ++i) {
        const float v = (l.down_exps_scale ? y[i] * sc : y[i]) * w;
        o[i] = s == 0 ? v : o[i] + v;
      }
    }
  }
}

// Self-attention of block il; out[T][n_embd] is after Wo.
void attention_block(const ModelConfig& c, const ModelWeights& w, const LayerWeights& l, KvCache& cache,
                     int il, const float* h, int64_t T, int64_t pos0, float* out, MatmulObserver* observer) {
  const bool swa = c.is_swa(il);
  ModelConfig lc = c;  // the block's own head geometry
  lc.head_dim = swa ? c.head_dim_swa : c.head_dim;
  lc.n_head_kv = swa ? c.n_head_kv_swa : c.n_head_kv;
  const int64_t E = c.n_embd, HD = lc.head_dim, QD = lc.q_dim(), KVD = lc.kv_dim();
  // K and V rows are as wide as the cache's rows (the widest block's).
  const int64_t W = c.cache_kv_dim > 0 ? c.cache_kv_dim : KVD;
  Buf q = buf(T * QD), k = buf(T * W), v = buf(T * W), attn = buf(T * QD);
  observe(observer, l.wq, -1, h, T);
  observe(observer, l.wk, -1, h, T);
  observe(observer, l.wv, -1, h, T);
  Activations act;
  prepare_activations(l.wq.type, h, T, E, E, act);
  matmul(l.wq, 0, act, q.data(), QD);
  if (l.wk.type != l.wq.type) prepare_activations(l.wk.type, h, T, E, E, act);
  matmul(l.wk, 0, act, k.data(), W);
  if (l.wv) {
    if (l.wv.type != l.wk.type) prepare_activations(l.wv.type, h, T, E, E, act);
    matmul(l.wv, 0, act, v.data(), W);
  } else {
    v = k;  // attention_k_eq_v: V is the raw K projection
  }
  const float base = swa ? c.rope_freq_base_swa : c.rope_freq_base;
  const float scale = swa ? 1.0f : c.rope_freq_scale;
  const float* factors = swa || !w.rope_freqs ? nullptr : w.rope_freqs.f32();
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    for (int hh = 0; hh < c.n_head; ++hh) {
      float* qh = &q[t * QD + hh * HD];
      rms_norm(qh, l.q_norm.f32(), c.rms_eps, HD, qh);
      rope_neox(qh, HD, pos0 + t, base, scale, factors);
    }
    for (int hh = 0; hh < lc.n_head_kv; ++hh) {
      float* kh = &k[t * W + hh * HD];
      rms_norm(kh, l.k_norm.f32(), c.rms_eps, HD, kh);
      rope_neox(kh, HD, pos0 + t, base, scale, factors);
      float* vh = &v[t * W + hh * HD];
      rms_norm(vh, nullptr, c.rms_eps, HD, vh);
    }
  });
  for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &k[t * W], &v[t * W]);
  // Gemma 4 does not scale q.k (its attention scaling is 1).
  attention(AttentionShape{lc.n_head, lc.n_head_kv, HD, HD, 1.0f}, cache, il, q.data(), T, pos0,
            attn.data(), /*sinks=*/nullptr, swa ? c.n_swa : 0);
  observe(observer, l.wo, -1, attn.data(), T);
  matmul(l.wo, 0, attn.data(), T, out, E);
}

void norm_rows(const float* x, const Weight& gain, float eps, int64_t T, int64_t E, float* y) {
  for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], gain ? gain.f32() : nullptr, eps, E, &y[t * E]);
}

}  // namespace

void forward_gemma4(const Model& model, KvCache& cache, RecurrentState&, const int32_t* tokens, int64_t T,
                    int64_t pos0, float* logits, bool last_only, MatmulObserver* observer) {
  const ModelConfig& c = model.config;
  const int64_t E = c.n_embd;
  Buf x = buf(T * E), h = buf(T * E), y = buf(T * E), a = buf(T * E), f = buf(T * E), m = buf(T * E);
  embed_tokens(model, tokens, T, x.data());
  const float embd_scale = std::sqrt(static_cast<float>(E));
  for (float& v : x) v *= embd_scale;
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights& l = model.weights.layers[static_cast<size_t>(il)];
    norm_rows(x.data(), l.attn_norm, c.rms_eps, T, E, h.data());
    attention_block(c, model.weights, l, cache, il, h.data(), T, pos0, y.data(), observer);
    norm_rows(y.data(), l.post_attn_norm, c.rms_eps, T, E, y.data());
    for (int64_t i = 0; i < T * E; ++i) a[i] = y[i] + x[i];
    norm_rows(a.data(), l.ffn_norm, c.rms_eps, T, E, h.data());
    geglu_ffn(l, h.data(), T, f.data(), observer);
    if (l.router) {
      norm_rows(f.data(), l.post_ffw_norm_1, c.rms_eps, T, E, f.data());
      norm_rows(a.data(), l.pre_ffw_norm_2, c.rms_eps, T, E, h.data());
      experts(c, l, a.data(), h.data(), T, m.data(), observer);
      norm_rows(m.data(), l.post_ffw_norm_2, c.rms_eps, T, E, m.data());
      for (int64_t i = 0; i < T * E; ++i) f[i] = f[i] + m[i];
    }
    norm_rows(f.data(), l.post_ffw_norm, c.rms_eps, T, E, f.data());
    const float s = l.out_scale ? l.out_scale.f32()[0] : 1.0f;
    for (int64_t i = 0; i < T * E; ++i) {
      const float r = f[i] + a[i];
      x[i] = l.out_scale ? r * s : r;
    }
  }
  output_logits(model, x.data(), T, last_only, logits, observer);
  if (logits == nullptr || c.final_logit_softcap <= 0.0f) return;
  const int64_t n_rows = last_only ? 1 : T;
  const float cap = c.final_logit_softcap, inv = 1.0f / cap;
  for (int64_t i = 0; i < n_rows * c.n_vocab; ++i) logits[i] = std::tanh(logits[i] * inv) * cap;
}

}  // namespace apex::engine
