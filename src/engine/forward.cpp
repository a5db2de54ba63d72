// The forward pass of the decoder-only transformers the engine runs
// (llama, qwen2moe, qwen3moe), the blocks every forward function shares
// (embedding, output head) and the dispatch from ForwardKind to the forward
// function (Gated DeltaNet hybrids: forward_qwen35moe.cpp). One function, top to bottom; what differs
// between architectures is data in ModelConfig / ArchTraits:
//   qkv_bias   add attn_{q,k,v}.bias after the projections      (qwen2moe)
//   qk_norm    RMS-norm each q and k head before RoPE            (qwen3moe)
//   rope       NORM (llama) or NEOX (qwen) pairing of dimensions
//   n_expert   0: dense SwiGLU FFN; > 0: routed experts          (see moe.cpp)
//   shared_expert, norm_topk_weights: MoE gating rules           (see moe.cpp)
// Shapes are written [rows][cols] with T = tokens in the batch.
#include "engine/forward.h"

#include <malloc.h>
#include <tbb/parallel_for.h>

#include <algorithm>

#include "engine/matmul.h"
#include "engine/moe.h"
#include "engine/nemotron_h_moe.h"
#include "engine/ops.h"
#include "quant/type_table.h"
#include "util/check.h"

namespace apex::engine {
namespace {

// A forward pass allocates its activation buffers afresh (tens of MiB per
// layer for a 512-token batch). glibc hands allocations above its mmap
// threshold to fresh mappings and gives freed memory back to the kernel, so
// every layer would fault in and zero its buffers again (32k page faults for
// one 512-token prompt of the benchmark model, slow under virtualisation).
// Keeping freed memory in the heap makes later buffers reuse it.
void keep_freed_memory() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}

void add_bias(float* x, const Weight& bias, int64_t n_tokens, int64_t n) {
  if (!bias) return;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) x[t * n + i] += bias.f32()[i];
  }
}

void add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = y[i] + x[i];
}

void observe(MatmulObserver* observer, const Weight& w, const float* x, int64_t n_rows) {
  if (observer != nullptr) observer->on_matmul(w, -1, x, n_rows);
}

}  // namespace

void forward(const Model& model, KvCache& cache, const int32_t* tokens, int64_t T, int64_t pos0,
             float* logits, bool last_only, MatmulObserver* observer) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const int64_t E = c.n_embd, HD = c.head_dim, QD = c.q_dim(), KVD = c.kv_dim();
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };

  // x[T][E]: token embeddings (rows of token_embd, dequantized).
  std::vector<float> x = buf(T * E);
  embed_tokens(model, tokens, T, x.data());

  std::vector<float> h = buf(T * E), q = buf(T * QD), k = buf(T * KVD), v = buf(T * KVD);
  std::vector<float> attn = buf(T * QD), y = buf(T * E);
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights& l = w.layers[static_cast<size_t>(il)];

    // ---- attention ----
    // h = rmsnorm(x) * attn_norm
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.attn_norm.f32(), c.rms_eps, E, &h[t * E]);
    // q[T][QD] = h Wq, k[T][KVD] = h Wk, v[T][KVD] = h Wv (+ biases)
    project_qkv(l, h.data(), T, observer, q.data(), k.data(), v.data());
    // Per head: optional RMS norm (qk_norm), then RoPE at the token's position.
    tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
      for (int hh = 0; hh < c.n_head; ++hh) {
        float* qh = &q[t * QD + hh * HD];
        if (l.q_norm) rms_norm(qh, l.q_norm.f32(), c.rms_eps, HD, qh);
        rope(qh, HD, pos0 + t, c.arch->rope, c.rope_freq_base, c.rope_freq_scale);
      }
      for (int hh = 0; hh < c.n_head_kv; ++hh) {
        float* kh = &k[t * KVD + hh * HD];
        if (l.k_norm) rms_norm(kh, l.k_norm.f32(), c.rms_eps, HD, kh);
        rope(kh, HD, pos0 + t, c.arch->rope, c.rope_freq_base, c.rope_freq_scale);
      }
    });
    for (int64_t t = 0; t < T; ++t) cache.store(il, pos0 + t, &k[t * KVD], &v[t * KVD]);
    // attn[T][QD] = softmax(q k^T / sqrt(HD), causal) v
    attention(c, cache, il, q.data(), T, pos0, attn.data());
    // x += attn Wo
    observe(observer, l.wo, attn.data(), T);
    matmul(l.wo, 0, attn.data(), T, y.data(), E);
    add(x.data(), y.data(), T * E);

    // ---- feed-forward ----
    for (int64_t t = 0; t < T; ++t) rms_norm(&x[t * E], l.ffn_norm.f32(), c.rms_eps, E, &h[t * E]);
    if (c.is_moe()) {
      moe_ffn(c, l, h.data(), T, y.data(), observer);
    } else {
      swiglu_ffn(l.ffn_gate, l.ffn_up, l.ffn_down, 0, h.data(), T, y.data(), observer);
    }
    add(x.data(), y.data(), T * E);
  }

  output_logits(model, x.data(), T, last_only, logits, observer);
}

void project_qkv(const LayerWeights& l, const float* h, int64_t T, MatmulObserver* observer, float* q,
                 float* k, float* v) {
  const Weight* w[3] = {&l.wq, &l.wk, &l.wv};
  const Weight* bias[3] = {&l.bq, &l.bk, &l.bv};
  float* out[3] = {q, k, v};
  // One conversion of h per distinct weight type.
  Activations act[3];
  std::vector<MatmulJob> jobs;
  for (int i = 0; i < 3; ++i) {
    observe(observer, *w[i], h, T);
    int same = 0;  // the first projection of this type
    while (w[same]->type != w[i]->type) ++same;
    if (same == i) prepare_activations(w[i]->type, h, T, w[i]->n_in, w[i]->n_in, act[i]);
    jobs.push_back({w[i], 0, &act[same], nullptr, T, out[i], w[i]->n_out, nullptr});
  }
  matmul_batch(jobs);
  for (int i = 0; i < 3; ++i) add_bias(out[i], *bias[i], T, w[i]->n_out);
}

void embed_tokens(const Model& model, const int32_t* tokens, int64_t T, float* x) {
  const Weight& embd = model.weights.token_embd;
  const int64_t E = model.config.n_embd;
  const quant::TypeTraits& embd_type = quant::traits(embd.type);
  for (int64_t t = 0; t < T; ++t) {
    const uint8_t* row = embd.row(tokens[t]);
    if (embd.type == quant::TypeId::F32) {
      std::copy_n(reinterpret_cast<const float*>(row), E, &x[t * E]);
    } else {
      embd_type.dequantize(row, &x[t * E], E);
    }
  }
}

void output_logits(const Model& model, const float* x, int64_t T, bool last_only, float* logits,
                   MatmulObserver* observer) {
  if (logits == nullptr) return;
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const int64_t E = c.n_embd;
  // logits[T][n_vocab] = rmsnorm(x) * output_norm . output
  const int64_t first = last_only ? T - 1 : 0;
  const int64_t n_out = T - first;
  std::vector<float> h(static_cast<size_t>(n_out * E));
  for (int64_t t = first; t < T; ++t) {
    rms_norm(&x[t * E], w.output_norm.f32(), c.rms_eps, E, &h[(t - first) * E]);
  }
  observe(observer, w.output, h.data(), n_out);
  matmul(w.output, 0, h.data(), n_out, logits, c.n_vocab);
}

namespace {

// One forward function per ForwardKind; a new kind of architecture is a
// new function and a row here.
using ForwardFn = void (*)(const Model&, KvCache&, RecurrentState&, const int32_t*, int64_t,
                           int64_t, float*, bool, MatmulObserver*);

void forward_transformer(const Model& model, KvCache& cache, RecurrentState&,
                         const int32_t* tokens, int64_t T, int64_t pos0, float* logits,
                         bool last_only, MatmulObserver* observer) {
  forward(model, cache, tokens, T, pos0, logits, last_only, observer);
}

void forward_whole_qk_norm_fn(const Model& model, KvCache& cache, RecurrentState&,
                              const int32_t* tokens, int64_t T, int64_t pos0, float* logits,
                              bool last_only, MatmulObserver* observer) {
  forward_whole_qk_norm(model, cache, tokens, T, pos0, logits, last_only, observer);
}

constexpr struct {
  ForwardKind kind;
  ForwardFn fn;
} kForwardFns[] = {
    {ForwardKind::kTransformer, forward_transformer},
    {ForwardKind::kDeltaNetHybrid, forward_delta_net_hybrid},
    {ForwardKind::kMamba2Hybrid, forward_mamba2_hybrid},
    {ForwardKind::kGlm4Moe, forward_glm4moe},
    {ForwardKind::kWholeQkNorm, forward_whole_qk_norm_fn},
    {ForwardKind::kLatentAttention, forward_deepseek2},
    {ForwardKind::kGptOss, forward_gptoss},
    {ForwardKind::kGemma4, forward_gemma4},
};

ForwardFn forward_fn(ForwardKind kind) {
  for (const auto& f : kForwardFns) {
    if (f.kind == kind) return f.fn;
  }
  APEX_CHECK(false, "no forward function for kind {}", static_cast<int>(kind));
  return nullptr;
}

}  // namespace

Context::Context(const Model& model, int64_t n_ctx)
    : model_(model),
      cache_(model.config.n_layer, n_ctx > 0 ? n_ctx : model.config.n_ctx_train,
             model.config.cache_kv_dim > 0 ? model.config.cache_kv_dim : model.config.kv_dim(),
             model.config.cache_kv_dim > 0 ? model.config.cache_kv_dim : model.config.kv_dim_v()),
      recurrent_(model.config) {
  keep_freed_memory();
}

Status Context::eval(std::span<const int32_t> tokens, std::vector<float>* logits, int64_t n_batch,
                     std::vector<float>* last_logits) {
  const ModelConfig& c = model_.config;
  const auto n = static_cast<int64_t>(tokens.size());
  for (int32_t id : tokens) {
    if (id < 0 || id >= c.n_vocab) {
      return make_error("token id {} is outside the vocabulary (0..{})", id, c.n_vocab - 1);
    }
  }
  if (n_past_ + n > cache_.n_ctx()) {
    return make_error("{} tokens after {} would overflow the context of {}", n, n_past_,
                      cache_.n_ctx());
  }
  if (n_batch <= 0) n_batch = n;
  const ForwardFn run = forward_fn(c.arch->forward);
  if (logits != nullptr) logits->assign(static_cast<size_t>(n * c.n_vocab), 0.0f);
  for (int64_t start = 0; start < n; start += n_batch) {
    const int64_t count = std::min(n_batch, n - start);
    const bool last_batch = start + count == n;
    float* out = nullptr;
    bool last_only = false;
    if (logits != nullptr) {
      out = logits->data() + start * c.n_vocab;
    } else if (last_logits != nullptr && last_batch) {
      last_logits->assign(static_cast<size_t>(c.n_vocab), 0.0f);
      out = last_logits->data();
      last_only = true;
    }
    run(model_, cache_, recurrent_, tokens.data() + start, count, n_past_, out, last_only, observer_);
    n_past_ += count;
  }
  if (logits != nullptr && last_logits != nullptr && n > 0) {
    last_logits->assign(logits->end() - c.n_vocab, logits->end());
  }
  return {};
}

}  // namespace apex::engine
