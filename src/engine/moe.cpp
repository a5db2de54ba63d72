#include "engine/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/matmul.h"
#include "engine/ops.h"

namespace apex::engine {

namespace {

// The indices of the k largest of v, largest first, ties by lower index (as
// ggml_argsort_top_k orders them).
std::vector<int> top_k(const std::vector<float>& v, int k) {
  std::vector<int> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return v[a] > v[b]; });
  order.resize(static_cast<size_t>(k));
  return order;
}

// Sets select[e] to -inf for the experts outside the n_used groups whose two
// best selection scores add up to most (the sum in double, ggml_sum_rows).
void keep_best_groups(std::vector<float>& select, int n_groups, int n_used) {
  const int per = static_cast<int>(select.size()) / n_groups;
  std::vector<float> group_score(static_cast<size_t>(n_groups));
  for (int g = 0; g < n_groups; ++g) {
    const std::vector<float> members(select.begin() + g * per, select.begin() + (g + 1) * per);
    double s = 0.0;
    for (int i : top_k(members, std::min(2, per))) s += members[i];
    group_score[g] = static_cast<float>(s);
  }
  std::vector<uint8_t> keep(static_cast<size_t>(n_groups), 0);
  for (int g : top_k(group_score, n_used)) keep[g] = 1;
  for (size_t e = 0; e < select.size(); ++e) {
    if (keep[e / static_cast<size_t>(per)] == 0) select[e] = -INFINITY;
  }
}

}  // namespace

RouterRule router_rule(const ModelConfig& c) {
  return RouterRule{.gating = c.expert_gating,
                    .n_expert = c.n_expert,
                    .k = c.n_expert_used,
                    .n_groups = c.n_expert_groups,
                    .n_groups_used = c.n_group_used,
                    .renormalise = c.expert_weights_norm,
                    .scale = c.expert_weights_scale};
}

Routing route(const RouterRule& rule, const float* router_logits, const float* selection_bias) {
  const int n = rule.n_expert;
  std::vector<float> probs(router_logits, router_logits + n);
  if (rule.gating == ExpertGating::kSoftmax) {
    softmax(probs.data(), n);
  } else if (rule.gating == ExpertGating::kSigmoid) {
    // ggml_sigmoid: 1 / (1 + expf(-x)), element by element.
    for (float& p : probs) p = 1.0f / (1.0f + std::exp(-p));
  }
  std::vector<float> select = probs;
  if (selection_bias != nullptr) {
    for (int e = 0; e < n; ++e) select[e] = probs[e] + selection_bias[e];
  }
  if (rule.n_groups > 1) keep_best_groups(select, rule.n_groups, rule.n_groups_used);
  Routing r;
  r.experts = top_k(select, rule.k);
  for (int e : r.experts) r.weights.push_back(probs[e]);
  if (rule.gating == ExpertGating::kSoftmaxWeight) softmax(r.weights.data(), rule.k);
  if (rule.renormalise) {
    double sum = 0.0;  // ggml_sum_rows adds in double
    for (float w : r.weights) sum += w;
    const float s = std::max(static_cast<float>(sum), 6.103515625e-5f);  // smallest normal F16
    for (float& w : r.weights) w /= s;
  }
  if (rule.scale != 0.0f && rule.scale != 1.0f) {
    for (float& w : r.weights) w *= rule.scale;
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
  // Route every token.
  std::vector<float> logits(static_cast<size_t>(n_tokens * c.n_expert));
  if (observer != nullptr) observer->on_matmul(l.router, -1, x, n_tokens);
  matmul(l.router, 0, x, n_tokens, logits.data(), c.n_expert);
  const RouterRule rule = router_rule(c);
  const float* bias = l.exp_probs_b ? l.exp_probs_b.f32() : nullptr;
  std::vector<Routing> routes(static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) routes[t] = route(rule, &logits[t * c.n_expert], bias);
  moe_experts(c, l, x, n_tokens, routes, out, observer);
  if (!l.up_shexp) return;
  std::vector<float> shared(static_cast<size_t>(n_tokens * n_embd));
  swiglu_ffn(l.gate_shexp, l.up_shexp, l.down_shexp, 0, x, n_tokens, shared.data(), observer);
  if (c.arch->ungated_shared_expert) {
    // glm4moe, deepseek2: routed + shared.
    for (int64_t i = 0; i < n_tokens * n_embd; ++i) out[i] = out[i] + shared[i];
    return;
  }
  // Scaled by sigmoid(gate_inp_shexp . x) per token; llama.cpp computes this
  // gate as a matrix product with a [n_embd, 1] weight.
  if (observer != nullptr && l.shexp_gate_inp) observer->on_matmul(l.shexp_gate_inp, -1, x, n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float gate = sigmoid(dot_f32(l.shexp_gate_inp.f32(), x + t * n_embd, n_embd));
    for (int64_t i = 0; i < n_embd; ++i) out[t * n_embd + i] += shared[t * n_embd + i] * gate;
  }
}

void moe_experts(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t n_tokens,
                 const std::vector<Routing>& routes, float* out, MatmulObserver* observer) {
  const int64_t n_embd = c.n_embd;
  const int k = c.n_expert_used;
  // Each expert runs once over the tokens routed to it. Slot rows: token t's
  // slot s is row t * k + s of u, g (n_ff wide) and expert_out (n_embd).
  // x is converted for the experts' up/gate type once; each expert reads its
  // tokens' rows in place and writes to their slots. The experts' products
  // go to matmul_batch together, so small batches (generation) take one
  // parallel loop for all up/gate products and one for all down products.
  const int64_t n_ff = l.up_exps.n_out, n_slots = n_tokens * k;
  // Every slot row is written by exactly one expert's products.
  UninitVector<float> expert_out(static_cast<size_t>(n_slots * n_embd));
  UninitVector<float> g(static_cast<size_t>(n_slots * n_ff)), u(g.size());
  Activations ax, gx, dx;
  prepare_activations(l.up_exps.type, x, n_tokens, n_embd, n_embd, ax);
  const bool gate_same = l.gate_exps.type == l.up_exps.type;
  if (!gate_same) prepare_activations(l.gate_exps.type, x, n_tokens, n_embd, n_embd, gx);
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(c.n_expert)), toks(slots.size());
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int s = 0; s < k; ++s) {
      const auto e = static_cast<size_t>(routes[t].experts[s]);
      slots[e].push_back(t * k + s);
      toks[e].push_back(t);
    }
  }
  std::vector<MatmulJob> jobs;
  for (int e = 0; e < c.n_expert; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n == 0) continue;
    jobs.push_back({&l.up_exps, e, &ax, toks[e].data(), n, u.data(), n_ff, slots[e].data()});
    jobs.push_back({&l.gate_exps, e, gate_same ? &ax : &gx, toks[e].data(), n, g.data(), n_ff, slots[e].data()});
  }
  matmul_batch(jobs);
  swiglu(g.data(), u.data(), n_slots * n_ff, g.data());
  prepare_activations(l.down_exps.type, g.data(), n_slots, n_ff, n_ff, dx);
  jobs.clear();
  for (int e = 0; e < c.n_expert; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n == 0) continue;
    jobs.push_back({&l.down_exps, e, &dx, slots[e].data(), n, expert_out.data(), n_embd, slots[e].data()});
  }
  matmul_batch(jobs);
  if (observer != nullptr) {
    // The inputs each expert saw, gathered in its token order.
    std::vector<float> rows;
    for (int e = 0; e < c.n_expert; ++e) {
      const auto n = static_cast<int64_t>(slots[e].size());
      if (n == 0) continue;
      rows.resize(static_cast<size_t>(n * std::max(n_embd, n_ff)));
      for (int64_t i = 0; i < n; ++i) std::copy_n(x + toks[e][i] * n_embd, n_embd, &rows[i * n_embd]);
      observer->on_matmul(l.gate_exps, e, rows.data(), n);
      observer->on_matmul(l.up_exps, e, rows.data(), n);
      for (int64_t i = 0; i < n; ++i) std::copy_n(&g[slots[e][i] * n_ff], n_ff, &rows[i * n_ff]);
      observer->on_matmul(l.down_exps, e, rows.data(), n);
    }
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
}

}  // namespace apex::engine
