// The forward pass of gpt-oss (llama.cpp's "gpt-oss", src/models/openai-moe.cpp).
// Every block is
//   h = rmsnorm(x) * attn_norm
//   q, k, v = h Wq + bq, h Wk + bk, h Wv + bv; NEOX RoPE (YaRN-scaled) on q, k
//   a = softmax over [q.k / sqrt(head_dim) ..., sink_h] of the visible
//       positions (the sink logit of head h only enlarges the denominator)
//       times v; even blocks see only the last n_swa positions
//   x = (a Wo + bo) + x
//   h = rmsnorm(x) * post_attention_norm
//   x = oai_moe(h) + x
// with the experts of oai_moe chosen by the k largest logits of
// (router . h + router bias), weighted by the softmax of those k logits, and
// each expert computing down(swiglu_oai(gate h + bg, up h + bu)) + bd
// (per-expert biases). Shapes are written [rows][cols], T = tokens.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "engine/forward.h"
#include "engine/matmul.h"
#include "engine/moe.h"
#include "engine/ops.h"

namespace apex::engine {
namespace {

// ggml_swiglu_oai with llama.cpp's constants for gpt-oss (alpha 1.702,
// limit 7): the gate is clamped from above, the linear part on both sides
// and shifted by one; plain expf, as ggml's scalar loop.
constexpr float kOaiAlpha = 1.702f;
constexpr float kOaiLimit = 7.0f;

void swiglu_oai(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = std::min(gate[i], kOaiLimit);
    const float y = std::clamp(up[i], -kOaiLimit, kOaiLimit);
    const float glu = x / (1.0f + std::exp(kOaiAlpha * (-x)));
    out[i] = glu * (y + 1.0f);
  }
}

void add_rows(float* y, const float* bias, int64_t n_rows, int64_t n) {
  for (int64_t t = 0; t < n_rows; ++t) {
    for (int64_t i = 0; i < n; ++i) y[t * n + i] += bias[i];
  }
}

// The routed experts of one layer: LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX_WEIGHT
// (top-k of the raw logits, softmax over the k chosen; moe.cpp's route), no
// renormalisation.
void oai_moe(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t T, float* out,
             MatmulObserver* observer) {
  const int64_t E = c.n_embd;
  const int k = c.n_expert_used, X = c.n_expert;
  std::vector<float> logits(static_cast<size_t>(T * X));
  if (observer != nullptr) observer->on_matmul(l.router, -1, x, T);
  matmul(l.router, 0, x, T, logits.data(), X);
  add_rows(logits.data(), l.router_b.f32(), T, X);
  const RouterRule rule = router_rule(c);  // kSoftmaxWeight (read_gptoss_keys)
  std::vector<Routing> routes(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) routes[t] = route(rule, &logits[t * X], nullptr);
  // Slot t * k + s holds token t's s-th expert; each expert runs once over
  // the slots routed to it.
  const int64_t F = l.up_exps.n_out, n_slots = T * k;
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(X)), toks(slots.size());
  for (int64_t t = 0; t < T; ++t) {
    for (int s = 0; s < k; ++s) {
      slots[static_cast<size_t>(routes[t].experts[s])].push_back(t * k + s);
      toks[static_cast<size_t>(routes[t].experts[s])].push_back(t);
    }
  }
  std::vector<float> g(static_cast<size_t>(n_slots * F)), u(g.size());
  std::vector<float> y(static_cast<size_t>(n_slots * E));
  Activations ax, gx, dx;
  prepare_activations(l.up_exps.type, x, T, E, E, ax);
  const bool gate_same = l.gate_exps.type == l.up_exps.type;
  if (!gate_same) prepare_activations(l.gate_exps.type, x, T, E, E, gx);
  std::vector<MatmulJob> jobs;
  for (int e = 0; e < X; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n == 0) continue;
    jobs.push_back({&l.up_exps, e, &ax, toks[e].data(), n, u.data(), F, slots[e].data()});
    jobs.push_back({&l.gate_exps, e, gate_same ? &ax : &gx, toks[e].data(), n, g.data(), F,
                    slots[e].data()});
  }
  matmul_batch(jobs);
  // Per-expert biases (ggml_add_id), then the clamped activation.
  for (int64_t t = 0; t < T; ++t) {
    for (int s = 0; s < k; ++s) {
      const int64_t slot = t * k + s, e = routes[t].experts[s];
      for (int64_t i = 0; i < F; ++i) {
        u[slot * F + i] += l.up_exps_b.f32()[e * F + i];
        g[slot * F + i] += l.gate_exps_b.f32()[e * F + i];
      }
    }
  }
  swiglu_oai(g.data(), u.data(), n_slots * F, g.data());
  prepare_activations(l.down_exps.type, g.data(), n_slots, F, F, dx);
  jobs.clear();
  for (int e = 0; e < X; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n == 0) continue;
    jobs.push_back({&l.down_exps, e, &dx, slots[e].data(), n, y.data(), E, slots[e].data()});
  }
  matmul_batch(jobs);
  if (observer != nullptr) {
    std::vector<float> rows;
    for (int e = 0; e < X; ++e) {
      const auto n = static_cast<int64_t>(slots[e].size());
      if (n == 0) continue;
      rows.resize(static_cast<size_t>(n * std::max(E, F)));
      for (int64_t i = 0; i < n; ++i) std::copy_n(x + toks[e][i] * E, E, &rows[i * E]);
      observer->on_matmul(l.gate_exps, e, rows.data(), n);
      observer->on_matmul(l.up_exps, e, rows.data(), n);
      for (int64_t i = 0; i < n; ++i) std::copy_n(&g[slots[e][i] * F], F, &rows[i * F]);
      observer->on_matmul(l.down_exps, e, rows.data(), n);
    }
  }
  // (down + bias) * weight, summed in routing order as llama.cpp adds them.
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * E;
    for (int s = 0; s < k; ++s) {
      const float w = routes[t].weights[s];
      const float* b = l.down_exps_b.f32() + static_cast<int64_t>(routes[t].experts[s]) * E;
      const float* ys = &y[(t * k + s) * E];
      for (int64_t i = 0; i < E; ++i) {
        const float v = (ys[i] + b[i]) * w;
        o[i] = s == 0 ? v : o[i] + v;
      }
    }
  }
}

void attention_block(const ModelConfig& c, const LayerWeights& l, KvCache& cache, int il,
                     const float* h, int64_t T, int64_t pos0, float* out,
                     MatmulObserver* observer) {
  const int64_t E = c.n_embd, HD = c.head_dim, QD = c.q_dim(), KVD = c.kv_dim();
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  std::vector<float> q = buf(T * QD), k = buf(T * KVD), v = buf(T * KVD), attn = buf(T * QD);
  project_qkv(l, h, T, observer, q.data(), k.data(), v.data());  // with gpt-oss's biases
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    for (int hh = 0; hh < c.n_head; ++hh) {
      rope_ext(&q[t * QD + hh * HD], HD, pos0 + t, c.arch->rope, c.rope_freq_base,
               c.rope_freq_scale, c.yarn);
    }
    for (int hh = 0; hh < c.n_head_kv; ++hh) {
      rope_ext(&k[t * KVD + hh * HD], HD, pos0 + t, c.arch->rope, c.rope_freq_base,
               c.rope_freq_scale, c.yarn);
    }
  });
  for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &k[t * KVD], &v[t * KVD]);
  const int64_t window = c.is_swa(il) ? c.n_swa : 0;
  attention(c, cache, il, q.data(), T, pos0, attn.data(), l.attn_sinks.f32(), window);
  if (observer != nullptr) observer->on_matmul(l.wo, -1, attn.data(), T);
  matmul(l.wo, 0, attn.data(), T, out, E);
  add_rows(out, l.bo.f32(), T, E);
}

}  // namespace

void forward_gptoss(const Model& model, KvCache& cache, RecurrentState&, const int32_t* tokens,
                    int64_t T, int64_t pos0, float* logits, bool last_only,
                    MatmulObserver* observer) {
  const ModelConfig& c = model.config;
  const int64_t E = c.n_embd;
  std::vector<float> x(static_cast<size_t>(T * E)), h(x.size()), y(x.size());
  embed_tokens(model, tokens, T, x.data());
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights& l = model.weights.layers[static_cast<size_t>(il)];
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.attn_norm.f32(), c.rms_eps, E, &h[t * E]);
    attention_block(c, l, cache, il, h.data(), T, pos0, y.data(), observer);
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.ffn_norm.f32(), c.rms_eps, E, &h[t * E]);
    oai_moe(c, l, h.data(), T, y.data(), observer);
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
  }
  output_logits(model, x.data(), T, last_only, logits, observer);
}

}  // namespace apex::engine

namespace apex::engine {

// What llama.cpp's gpt-oss loader reads beyond the common keys: the sliding
// window (required) and the layer pattern it sets (every even block is
// sliding-window, set_swa_pattern(2)). An explicit sliding_window_pattern
// key would override that; synthetic and converted files carry none.
Status read_gptoss_keys(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  const std::string window_key = arch + ".attention.sliding_window";
  int64_t window = 0;
  if (!f.get_int(window_key, window) || window <= 0) {
    return make_error("{}: missing or bad integer key {}", f.path(), window_key);
  }
  if (f.find(arch + ".attention.sliding_window_pattern") != nullptr) {
    return make_error("{}: gpt-oss: {} is not implemented (only the default alternating pattern)",
                      f.path(), arch + ".attention.sliding_window_pattern");
  }
  if (f.find(arch + ".rope.freq_base_swa") != nullptr) {
    return make_error("{}: gpt-oss: {} is not implemented", f.path(), arch + ".rope.freq_base_swa");
  }
  int64_t ff = 0;
  if (!f.get_int(arch + ".expert_feed_forward_length", ff) || ff <= 0) {
    return make_error("{}: missing or bad integer key {}", f.path(),
                      arch + ".expert_feed_forward_length");
  }
  c.expert_gating = ExpertGating::kSoftmaxWeight;  // openai-moe.cpp's build_moe_ffn call
  c.n_swa = window;
  c.swa.assign(static_cast<size_t>(c.n_layer), 0);
  for (int il = 0; il < c.n_layer; ++il) c.swa[static_cast<size_t>(il)] = il % 2 == 0 ? 1 : 0;
  return {};
}

}  // namespace apex::engine
