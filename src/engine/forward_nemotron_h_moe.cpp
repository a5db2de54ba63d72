// The forward pass of Nemotron-H MoE (llama.cpp's nemotron_h_moe,
// src/models/nemotron-h.cpp). Every block is one of three kinds:
//   x = x + mixer(rmsnorm(x) * attn_norm)
// where mixer is
//   Mamba-2     (mamba2.cpp)
//   attention   q, k, v = h Wq, h Wk, h Wv; no positional encoding;
//               softmax(q k^T / sqrt(head_dim), causal) v, then Wo
//   MoE FFN     sigmoid router; experts picked by sigmoid + exp_probs_b,
//               weighted by the unbiased sigmoid (renormalised when
//               expert_weights_norm, times expert_weights_scale);
//               experts and the shared expert are down(relu(up h)^2)
// The loader reads the kind from the per-block arrays: head_count_kv > 0
// attention, feed_forward_length > 0 MoE, both 0 Mamba-2.
// Shapes are written [rows][cols] with T = tokens in the batch.
#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>

#include "engine/forward.h"
#include "engine/mamba2.h"
#include "engine/moe.h"
#include "engine/matmul.h"
#include "engine/nemotron_h_moe.h"
#include "engine/ops.h"
#include "quant/type_id.h"

namespace apex::engine {
namespace {

// A per-block integer array key (or one value for every block).
Result<std::vector<int64_t>> per_block(const gguf::File& f, const std::string& key, int n) {
  std::vector<int64_t> out(static_cast<size_t>(n), 0);
  const gguf::KeyValue* kv = f.find(key);
  if (kv == nullptr) return make_error("{}: missing key {}", f.path(), key);
  int64_t v = 0;
  if (kv->value.as_int(v)) {
    std::fill(out.begin(), out.end(), v);
    return out;
  }
  const auto* arr = kv->value.get_if<gguf::Array>();
  if (arr == nullptr || arr->elems.size() < out.size()) {
    return make_error("{}: {} must be an integer or an array of at least {} integers", f.path(), key, n);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!arr->elems[i].as_int(out[i]) || out[i] < 0) {
      return make_error("{}: {} element {} is not a count", f.path(), key, i);
    }
  }
  return out;
}

void relu_squared(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float r = x[i] > 0.0f ? x[i] : 0.0f;
    x[i] = r * r;
  }
}

// out[t] = down(relu(up x[t])^2): the shared expert, or one expert (mat).
void relu2_ffn(const Weight& up, const Weight& down, const float* x, int64_t T, float* out,
               MatmulObserver* observer) {
  std::vector<float> u(static_cast<size_t>(T * up.n_out));
  if (observer != nullptr) observer->on_matmul(up, -1, x, T);
  matmul(up, 0, x, T, u.data(), up.n_out);
  relu_squared(u.data(), static_cast<int64_t>(u.size()));
  if (observer != nullptr) observer->on_matmul(down, -1, u.data(), T);
  matmul(down, 0, u.data(), T, out, down.n_out);
}

// Routed relu^2 experts plus the shared expert for T rows of x.
void relu2_moe(const ModelConfig& c, const LayerWeights& l, const float* x, int64_t T, float* out,
               MatmulObserver* observer) {
  const int64_t E = c.n_embd;
  const int k = c.n_expert_used, NE = c.n_expert;
  std::vector<float> logits(static_cast<size_t>(T * NE));
  if (observer != nullptr) observer->on_matmul(l.router, -1, x, T);
  matmul(l.router, 0, x, T, logits.data(), NE);
  const RouterRule rule = router_rule(c);
  std::vector<Routing> routes(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) routes[t] = route(rule, &logits[t * NE], l.exp_probs_b.f32());
  // Each expert runs once over its tokens; token t's slot s is row t * k + s.
  const int64_t n_ff = l.up_exps.n_out, n_slots = T * k;
  std::vector<float> u(static_cast<size_t>(n_slots * n_ff)), expert_out(static_cast<size_t>(n_slots * E));
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(NE)), toks(slots.size());
  for (int64_t t = 0; t < T; ++t) {
    for (int s = 0; s < k; ++s) {
      const auto e = static_cast<size_t>(routes[t].experts[s]);
      slots[e].push_back(t * k + s);
      toks[e].push_back(t);
    }
  }
  Activations ax, dx;
  prepare_activations(l.up_exps.type, x, T, E, E, ax);
  std::vector<MatmulJob> jobs;
  for (int e = 0; e < NE; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n > 0) jobs.push_back({&l.up_exps, e, &ax, toks[e].data(), n, u.data(), n_ff, slots[e].data()});
  }
  matmul_batch(jobs);
  relu_squared(u.data(), n_slots * n_ff);
  prepare_activations(l.down_exps.type, u.data(), n_slots, n_ff, n_ff, dx);
  jobs.clear();
  for (int e = 0; e < NE; ++e) {
    const auto n = static_cast<int64_t>(slots[e].size());
    if (n > 0) jobs.push_back({&l.down_exps, e, &dx, slots[e].data(), n, expert_out.data(), E, slots[e].data()});
  }
  matmul_batch(jobs);
  if (observer != nullptr) {
    std::vector<float> rows;
    for (int e = 0; e < NE; ++e) {
      const auto n = static_cast<int64_t>(slots[e].size());
      if (n == 0) continue;
      rows.resize(static_cast<size_t>(n * std::max(E, n_ff)));
      for (int64_t i = 0; i < n; ++i) std::copy_n(x + toks[e][i] * E, E, &rows[i * E]);
      observer->on_matmul(l.up_exps, e, rows.data(), n);
      for (int64_t i = 0; i < n; ++i) std::copy_n(&u[slots[e][i] * n_ff], n_ff, &rows[i * n_ff]);
      observer->on_matmul(l.down_exps, e, rows.data(), n);
    }
  }
  // Weighted sum in routing order, then the shared expert added.
  std::vector<float> shared(static_cast<size_t>(T * E));
  relu2_ffn(l.up_shexp, l.down_shexp, x, T, shared.data(), observer);
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * E;
    for (int s = 0; s < k; ++s) {
      const float w = routes[t].weights[s];
      const float* y = &expert_out[(t * k + s) * E];
      for (int64_t i = 0; i < E; ++i) o[i] = s == 0 ? y[i] * w : o[i] + y[i] * w;
    }
    for (int64_t i = 0; i < E; ++i) o[i] = o[i] + shared[t * E + i];
  }
}

// Attention without positional encoding.
void plain_attention(const ModelConfig& c, const LayerWeights& l, KvCache& cache, int il,
                     const float* h, int64_t T, int64_t pos0, float* out, MatmulObserver* observer) {
  const int64_t QD = c.q_dim(), KVD = c.kv_dim();
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  std::vector<float> q = buf(T * QD), k = buf(T * KVD), v = buf(T * KVD), attn = buf(T * QD);
  project_qkv(l, h, T, observer, q.data(), k.data(), v.data());
  for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &k[t * KVD], &v[t * KVD]);
  attention(c, cache, il, q.data(), T, pos0, attn.data());
  if (observer != nullptr) observer->on_matmul(l.wo, -1, attn.data(), T);
  matmul(l.wo, 0, attn.data(), T, out, c.n_embd);
}

}  // namespace

Status read_nemotron_h_keys(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  auto need = [&](const char* suffix, int64_t& out) -> Status {
    if (!f.get_int(key(suffix), out) || out <= 0) {
      return make_error("{}: missing or bad integer key {}", f.path(), key(suffix));
    }
    return {};
  };
  if (Status s = need("ssm.conv_kernel", c.ssm_d_conv); !s) return s;
  if (Status s = need("ssm.state_size", c.ssm_d_state); !s) return s;
  if (Status s = need("ssm.group_count", c.ssm_n_group); !s) return s;
  if (Status s = need("ssm.time_step_rank", c.ssm_dt_rank); !s) return s;
  if (Status s = need("ssm.inner_size", c.ssm_d_inner); !s) return s;
  if (c.ssm_d_inner % c.ssm_dt_rank != 0 || c.ssm_dt_rank % c.ssm_n_group != 0) {
    return make_error("{}: ssm.inner_size {} must be a multiple of time_step_rank {}, itself a "
                      "multiple of group_count {}",
                      f.path(), c.ssm_d_inner, c.ssm_dt_rank, c.ssm_n_group);
  }
  auto kv_heads = per_block(f, key("attention.head_count_kv"), c.n_layer);
  if (!kv_heads) return kv_heads.error();
  auto ff = per_block(f, key("feed_forward_length"), c.n_layer);
  if (!ff) return ff.error();
  c.recurrent.assign(static_cast<size_t>(c.n_layer), 0);
  c.ffn_block.assign(static_cast<size_t>(c.n_layer), 0);
  int64_t n_kv = 0;
  for (int il = 0; il < c.n_layer; ++il) {
    const int64_t hkv = (*kv_heads)[il], nff = (*ff)[il];
    c.recurrent[static_cast<size_t>(il)] = hkv == 0 && nff == 0;
    c.ffn_block[static_cast<size_t>(il)] = hkv == 0 && nff > 0;
    if (hkv == 0 || nff > 0) continue;
    if (n_kv != 0 && hkv != n_kv) {
      return make_error("{}: {}: attention blocks with different kv head counts ({} and {}) are "
                        "not supported",
                        f.path(), key("attention.head_count_kv"), n_kv, hkv);
    }
    n_kv = hkv;
  }
  if (n_kv > 0) c.n_head_kv = static_cast<int>(n_kv);
  if (c.n_head % c.n_head_kv != 0) {
    return make_error("{}: head counts {} / {} (kv) are not usable", f.path(), c.n_head, c.n_head_kv);
  }
  if (const gguf::KeyValue* kv = f.find(key("expert_weights_norm"))) {
    if (const bool* b = kv->value.get_if<bool>()) c.expert_weights_norm = *b;
  }
  // llama.cpp's graph routes nemotron_h_moe's experts by sigmoid whatever
  // expert_gating_func says.
  c.expert_gating = ExpertGating::kSigmoid;
  return {};
}

Status load_nemotron_h_layer(const gguf::File& f, const ModelConfig& c, int il, LayerWeights& l) {
  const int64_t E = c.n_embd, DI = c.ssm_d_inner, NG = c.ssm_n_group, NH = c.ssm_dt_rank;
  const int64_t in_proj = 2 * DI + 2 * NG * c.ssm_d_state + NH, conv = c.ssm_conv_dim();
  auto n = [&](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
  Status st;
  auto get = [&](Weight& dst, const std::string& name, std::vector<int64_t> shape, bool f32) {
    if (!st) return;
    Result<Weight> r = load_weight(f, name, std::move(shape));
    if (!r) {
      st = r.error();
    } else if (f32 && r->type != quant::TypeId::F32) {
      st = make_error("{}: tensor {} must be F32", f.path(), name);
    } else {
      dst = *r;
    }
  };
  get(l.attn_norm, n("attn_norm.weight"), {E}, true);
  if (f.find_tensor(n("ffn_latent_down.weight")) != nullptr) {
    return make_error("{}: nemotron_h_moe: latent MoE projections (blk.{}.ffn_latent_down) not "
                      "implemented",
                      f.path(), il);
  }
  if (c.is_recurrent(il)) {
    get(l.ssm_in, n("ssm_in.weight"), {E, in_proj}, false);
    get(l.ssm_conv1d, n("ssm_conv1d.weight"), {c.ssm_d_conv, conv}, true);
    get(l.ssm_conv1d_b, n("ssm_conv1d.bias"), {conv}, true);
    get(l.ssm_dt, n("ssm_dt.bias"), {NH}, true);
    get(l.ssm_a, n("ssm_a"), {1, NH}, true);
    get(l.ssm_d, n("ssm_d"), {1, NH}, true);
    get(l.ssm_norm, n("ssm_norm.weight"), {DI / NG, NG}, true);
    get(l.ssm_out, n("ssm_out.weight"), {DI, E}, false);
  } else if (c.is_ffn_block(il)) {
    const gguf::TensorInfo* up = f.find_tensor(n("ffn_up_exps.weight"));
    const gguf::TensorInfo* sh = f.find_tensor(n("ffn_up_shexp.weight"));
    if (up == nullptr || up->ne.size() < 2) return make_error("{}: missing tensor {}", f.path(), n("ffn_up_exps.weight"));
    if (sh == nullptr || sh->ne.size() < 2) return make_error("{}: missing tensor {}", f.path(), n("ffn_up_shexp.weight"));
    const int64_t n_ff = up->ne[1], n_ff_sh = sh->ne[1];
    get(l.router, n("ffn_gate_inp.weight"), {E, c.n_expert}, false);
    get(l.exp_probs_b, n("exp_probs_b.bias"), {c.n_expert}, true);
    get(l.up_exps, n("ffn_up_exps.weight"), {E, n_ff, c.n_expert}, false);
    get(l.down_exps, n("ffn_down_exps.weight"), {n_ff, E, c.n_expert}, false);
    get(l.up_shexp, n("ffn_up_shexp.weight"), {E, n_ff_sh}, false);
    get(l.down_shexp, n("ffn_down_shexp.weight"), {n_ff_sh, E}, false);
  } else {
    get(l.wq, n("attn_q.weight"), {E, c.q_dim()}, false);
    get(l.wk, n("attn_k.weight"), {E, c.kv_dim()}, false);
    get(l.wv, n("attn_v.weight"), {E, c.kv_dim()}, false);
    get(l.wo, n("attn_output.weight"), {c.q_dim(), E}, false);
    for (const char* b : {"attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias"}) {
      if (f.find_tensor(n(b)) != nullptr) {
        return make_error("{}: nemotron_h_moe: attention biases (blk.{}.{}) not implemented",
                          f.path(), il, b);
      }
    }
  }
  return st;
}

void forward_mamba2_hybrid(const Model& model, KvCache& cache, RecurrentState& state,
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
      mamba2_block(c, l, il, state, h.data(), T, y.data(), observer);
    } else if (c.is_ffn_block(il)) {
      relu2_moe(c, l, h.data(), T, y.data(), observer);
    } else {
      plain_attention(c, l, cache, il, h.data(), T, pos0, y.data(), observer);
    }
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
  }
  output_logits(model, x.data(), T, last_only, logits, observer);
}

}  // namespace apex::engine
