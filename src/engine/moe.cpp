#include "engine/moe.h"

#include <algorithm>
#include <numeric>

#include "engine/matmul.h"
#include "engine/ops.h"

namespace apex::engine {

Routing route(const float* router_logits, int n_expert, int k, bool renormalise, float scale) {
  std::vector<float> probs(router_logits, router_logits + n_expert);
  softmax(probs.data(), n_expert);
  std::vector<int> order(static_cast<size_t>(n_expert));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return probs[a] > probs[b]; });
  Routing r;
  r.experts.assign(order.begin(), order.begin() + k);
  for (int e : r.experts) r.weights.push_back(probs[e]);
  if (renormalise) {
    float sum = 0.0f;
    for (float w : r.weights) sum += w;
    sum = std::max(sum, 6.103515625e-5f);  // smallest normal F16
    for (float& w : r.weights) w /= sum;
  }
  if (scale != 0.0f && scale != 1.0f) {
    for (float& w : r.weights) w *= scale;
  }
  return r;
}

void swiglu_ffn(const Weight& gate, const Weight& up, const Weight& down, int64_t mat,
                const float* x, int64_t n_tokens, float* out, MatmulObserver* observer) {
  const int64_t n_ff = up.n_out;
  const auto observe = [&](const Weight& w, const float* rows) {
    if (observer != nullptr) observer->on_matmul(w, w.n_mat > 1 ? static_cast<int>(mat) : -1, rows, n_tokens);
  };
  observe(gate, x);
  observe(up, x);
  std::vector<float> g(static_cast<size_t>(n_tokens * n_ff)), u(g.size());
  Activations act;
  prepare_activations(up.type, x, n_tokens, up.n_in, up.n_in, act);
  matmul(up, mat, act, u.data(), n_ff);
  if (gate.type != up.type) prepare_activations(gate.type, x, n_tokens, gate.n_in, gate.n_in, act);
  matmul(gate, mat, act, g.data(), n_ff);
  swiglu(g.data(), u.data(), n_tokens * n_ff, g.data());
  observe(down, g.data());
  matmul(down, mat, g.data(), n_tokens, out, down.n_out);
}

void moe_ffn(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t n_tokens,
             float* out, MatmulObserver* observer) {
  const int64_t n_embd = c.n_embd;
  const int k = c.n_expert_used;
  // Route every token.
  std::vector<float> logits(static_cast<size_t>(n_tokens * c.n_expert));
  if (observer != nullptr) observer->on_matmul(l.router, -1, x, n_tokens);
  matmul(l.router, 0, x, n_tokens, logits.data(), c.n_expert);
  std::vector<Routing> routes(static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    routes[t] = route(&logits[t * c.n_expert], c.n_expert, k, c.arch->norm_topk_weights,
                      c.expert_weights_scale);
  }
  // Each expert runs once over the tokens routed to it; expert_out holds
  // token t's slot-s result at row t * k + s.
  std::vector<float> expert_out(static_cast<size_t>(n_tokens * k * n_embd));
  std::vector<float> xs, ys;
  std::vector<int64_t> rows;
  for (int e = 0; e < c.n_expert; ++e) {
    rows.clear();
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int s = 0; s < k; ++s) {
        if (routes[t].experts[s] == e) rows.push_back(t * k + s);
      }
    }
    if (rows.empty()) continue;
    const auto n = static_cast<int64_t>(rows.size());
    xs.resize(static_cast<size_t>(n * n_embd));
    ys.resize(xs.size());
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(x + rows[i] / k * n_embd, n_embd, &xs[i * n_embd]);
    }
    swiglu_ffn(l.gate_exps, l.up_exps, l.down_exps, e, xs.data(), n, ys.data(), observer);
    for (int64_t i = 0; i < n; ++i) std::copy_n(&ys[i * n_embd], n_embd, &expert_out[rows[i] * n_embd]);
  }
  // Weighted sum in routing order (best expert first), as llama.cpp adds them.
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* o = out + t * n_embd;
    for (int s = 0; s < k; ++s) {
      const float w = routes[t].weights[s];
      const float* y = &expert_out[(t * k + s) * n_embd];
      for (int64_t i = 0; i < n_embd; ++i) o[i] = s == 0 ? y[i] * w : o[i] + y[i] * w;
    }
  }
  if (!l.up_shexp) return;
  // Shared expert, scaled by sigmoid(gate_inp_shexp . x) per token.
  std::vector<float> shared(static_cast<size_t>(n_tokens * n_embd));
  swiglu_ffn(l.gate_shexp, l.up_shexp, l.down_shexp, 0, x, n_tokens, shared.data(), observer);
  // llama.cpp computes this gate as a matrix product with a [n_embd, 1] weight.
  if (observer != nullptr && l.shexp_gate_inp) observer->on_matmul(l.shexp_gate_inp, -1, x, n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float gate = sigmoid(dot_f32(l.shexp_gate_inp.f32(), x + t * n_embd, n_embd));
    for (int64_t i = 0; i < n_embd; ++i) out[t * n_embd + i] += shared[t * n_embd + i] * gate;
  }
}

}  // namespace apex::engine
