// The forward pass of GLM-4.5 / 4.6 / 4.7 MoE (llama.cpp's glm4moe,
// src/models/glm4-moe.cpp). Every block is
//   h = rmsnorm(x) * attn_norm
//   q = h Wq + bq, k = h Wk + bk, v = h Wv + bv
//   q, k: optional per-head RMS norm, then NEOX RoPE over the first n_rot
//         dimensions of each head (the converter writes head_dim / 2)
//   x = x + (softmax(q k^T / sqrt(head_dim)) v) Wo
//   h = rmsnorm(x) * post_attention_norm
//   x = x + (block < leading_dense_block_count ? swiglu_ffn(h)
//                                              : routed_experts(h) + shared_expert(h))
// The routed experts are scored by sigmoid, chosen by score + exp_probs_b,
// weighted by their (renormalised, scaled) scores (moe.cpp's route); the
// shared expert is a plain SwiGLU FFN, added without a gate. The
// multi-token-prediction blocks after the trunk are not run (llama.cpp runs
// them only in its separate MTP graph). Shapes are [rows][cols], T tokens.
#include <tbb/parallel_for.h>

#include "engine/forward.h"
#include "engine/matmul.h"
#include "engine/moe.h"
#include "engine/ops.h"

namespace apex::engine {
namespace {

void attention_block(const ModelConfig& c, const LayerWeights& l, KvCache& cache, int il,
                     const float* h, int64_t T, int64_t pos0, float* out,
                     MatmulObserver* observer) {
  const int64_t E = c.n_embd, HD = c.head_dim, QD = c.q_dim(), KVD = c.kv_dim();
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  std::vector<float> q = buf(T * QD), k = buf(T * KVD), v = buf(T * KVD), attn = buf(T * QD);
  project_qkv(l, h, T, observer, q.data(), k.data(), v.data());
  // NEOX pairs (i, i + n_rot/2) of the first n_rot dimensions; the rest of
  // the head passes through, as ggml_rope_ext with n_dims = n_rot does.
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    for (int hh = 0; hh < c.n_head; ++hh) {
      float* qh = &q[t * QD + hh * HD];
      if (l.q_norm) rms_norm(qh, l.q_norm.f32(), c.rms_eps, HD, qh);
      rope(qh, c.n_rot, pos0 + t, c.arch->rope, c.rope_freq_base, c.rope_freq_scale);
    }
    for (int hh = 0; hh < c.n_head_kv; ++hh) {
      float* kh = &k[t * KVD + hh * HD];
      if (l.k_norm) rms_norm(kh, l.k_norm.f32(), c.rms_eps, HD, kh);
      rope(kh, c.n_rot, pos0 + t, c.arch->rope, c.rope_freq_base, c.rope_freq_scale);
    }
  });
  for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &k[t * KVD], &v[t * KVD]);
  attention(c, cache, il, q.data(), T, pos0, attn.data());
  if (observer != nullptr) observer->on_matmul(l.wo, -1, attn.data(), T);
  matmul(l.wo, 0, attn.data(), T, out, E);
}

}  // namespace

void forward_glm4moe(const Model& model, KvCache& cache, RecurrentState&, const int32_t* tokens,
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
    if (c.is_moe_layer(il)) {
      moe_ffn(c, l, h.data(), T, y.data(), observer);
    } else {
      swiglu_ffn(l.ffn_gate, l.ffn_up, l.ffn_down, 0, h.data(), T, y.data(), observer);
    }
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
  }
  output_logits(model, x.data(), T, last_only, logits, observer);
}

// The keys llama.cpp's glm4moe loader reads beyond the common ones. It
// requires expert_shared_count and expert_feed_forward_length; the gating
// function defaults to sigmoid.
Status read_glm4moe_keys(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  int64_t v = 0;
  for (const char* required : {"expert_shared_count", "expert_feed_forward_length"}) {
    if (!f.get_int(key(required), v) || v < 0) {
      return make_error("{}: missing or bad integer key {}", f.path(), key(required));
    }
  }
  if (f.get_int(key("leading_dense_block_count"), v)) {
    if (v < 0 || v > c.n_layer + 64) {
      return make_error("{}: {} {} is not a block count", f.path(), key("leading_dense_block_count"), v);
    }
    c.n_dense_lead = static_cast<int>(v);
  }
  int64_t gating = 2;  // LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID, llama.cpp's default here
  if (f.get_int(key("expert_gating_func"), gating) && gating == 0) gating = 2;
  if (gating != 2) {
    return make_error("{}: {} {} is not supported for {} (only 2, sigmoid)", f.path(),
                      key("expert_gating_func"), gating, arch);
  }
  c.expert_gating = ExpertGating::kSigmoid;
  if (const gguf::KeyValue* kv = f.find(key("expert_weights_norm"))) {
    const bool* b = kv->value.get_if<bool>();
    if (b == nullptr) return make_error("{}: {} is not a bool", f.path(), key("expert_weights_norm"));
    c.expert_weights_norm = *b;
  }
  if (const gguf::KeyValue* kv = f.find(key("rope.dimension_sections"))) {
    // llama.cpp switches GLM to multi-section RoPE (the vision model's text
    // tower) when two sections are non-zero; text GGUFs do not carry them.
    const auto* arr = kv->value.get_if<gguf::Array>();
    int64_t s0 = 0, s1 = 0;
    if (arr != nullptr && arr->elems.size() >= 2 && arr->elems[0].as_int(s0) &&
        arr->elems[1].as_int(s1) && s0 > 0 && s1 > 0) {
      return make_error("{}: glm4moe: multi-section RoPE ({}) not implemented", f.path(),
                        key("rope.dimension_sections"));
    }
  }
  return {};
}

}  // namespace apex::engine
