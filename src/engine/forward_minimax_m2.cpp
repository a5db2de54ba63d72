// The forward pass of transformers whose q/k RMS norms span the whole
// projections (ForwardKind::kWholeQkNorm): llama.cpp's minimax-m2
// (src/models/minimax-m2.cpp) and olmoe (src/models/olmoe.cpp), whose graphs
// are the same but for the router. Every block is
//   h = rmsnorm(x) * attn_norm
//   q = rmsnorm(h Wq) * attn_q_norm     one mean over all q_dim channels
//   k = rmsnorm(h Wk) * attn_k_norm     one mean over all kv_dim channels
//   q, k per head: NEOX RoPE over the first n_rot dimensions (minimax-m2
//                  rotates 64 of 128; olmoe all of them)
//   x = x + softmax(q k^T / sqrt(head_dim), causal) (h Wv) Wo
//   x = x + moe_ffn(rmsnorm(x) * ffn_norm)
// and the router (moe.cpp) is minimax-m2's sigmoid with the exp_probs_b
// selection bias and renormalised top k, or olmoe's softmax without
// renormalisation (ArchTraits / expert_gating_func).
// Shapes are written [rows][cols] with T = tokens in the batch.
#include <tbb/parallel_for.h>

#include "engine/forward.h"
#include "engine/matmul.h"
#include "engine/moe.h"
#include "engine/ops.h"

namespace apex::engine {

// minimax-m2.expert_gating_func: the converter writes it from the config's
// scoring_func, and llama.cpp's graph aborts without it (its default means
// "none"), so a file without it is refused here.
Status read_minimax_m2_keys(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  const std::string key = arch + ".expert_gating_func";
  int64_t v = 0;
  if (!f.get_int(key, v)) return make_error("{}: missing key {}", f.path(), key);
  if (v == 1) {
    c.expert_gating = ExpertGating::kSoftmax;
  } else if (v == 2) {
    c.expert_gating = ExpertGating::kSigmoid;
  } else {
    return make_error("{}: {} = {} is not supported (1 softmax, 2 sigmoid)", f.path(), key, v);
  }
  return {};
}

namespace {

void attention_block(const ModelConfig& c, const LayerWeights& l, KvCache& cache, int il,
                     const float* h, int64_t T, int64_t pos0, float* out,
                     MatmulObserver* observer) {
  const int64_t E = c.n_embd, HD = c.head_dim, QD = c.q_dim(), KVD = c.kv_dim();
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  std::vector<float> q = buf(T * QD), k = buf(T * KVD), v = buf(T * KVD), attn = buf(T * QD);
  // q[T][QD] = h Wq, k[T][KVD] = h Wk, v[T][KVD] = h Wv
  project_qkv(l, h, T, observer, q.data(), k.data(), v.data());
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    float* qt = &q[t * QD];
    float* kt = &k[t * KVD];
    rms_norm(qt, l.q_norm.f32(), c.rms_eps, QD, qt);
    rms_norm(kt, l.k_norm.f32(), c.rms_eps, KVD, kt);
    // rope() over n_rot dimensions with NEOX pairing rotates (i, i + n_rot/2)
    // with base^(-2i/n_rot) and leaves dimensions n_rot.. alone, as ggml's
    // rope does when n_dims < head_dim.
    for (int hh = 0; hh < c.n_head; ++hh) {
      rope(qt + hh * HD, c.n_rot, pos0 + t, c.arch->rope, c.rope_freq_base, c.rope_freq_scale);
    }
    for (int hh = 0; hh < c.n_head_kv; ++hh) {
      rope(kt + hh * HD, c.n_rot, pos0 + t, c.arch->rope, c.rope_freq_base, c.rope_freq_scale);
    }
  });
  for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &k[t * KVD], &v[t * KVD]);
  attention(c, cache, il, q.data(), T, pos0, attn.data());
  if (observer != nullptr) observer->on_matmul(l.wo, -1, attn.data(), T);
  matmul(l.wo, 0, attn.data(), T, out, E);
}

}  // namespace

void forward_whole_qk_norm(const Model& model, KvCache& cache, const int32_t* tokens, int64_t T,
                           int64_t pos0, float* logits, bool last_only, MatmulObserver* observer) {
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
    moe_ffn(c, l, h.data(), T, y.data(), observer);
    for (int64_t i = 0; i < T * E; ++i) x[i] = y[i] + x[i];
  }
  output_logits(model, x.data(), T, last_only, logits, observer);
}

}  // namespace apex::engine
