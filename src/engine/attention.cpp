#include "engine/attention.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "engine/kernels_simd.h"
#include "engine/ops.h"
#include "quant/fp16.h"

namespace apex::engine {

KvCache::KvCache(int n_layer, int64_t n_ctx, int64_t kv_dim) : KvCache(n_layer, n_ctx, kv_dim, kv_dim) {}

KvCache::KvCache(int n_layer, int64_t n_ctx, int64_t k_dim, int64_t v_dim)
    : n_ctx_(n_ctx),
      kv_dim_(k_dim),
      v_dim_(v_dim),
      k_(static_cast<size_t>(n_layer) * n_ctx * k_dim),
      v_(static_cast<size_t>(n_layer) * n_ctx * v_dim) {}

void KvCache::store(int layer, int64_t pos, const float* k, const float* v) {
  uint16_t* kd = &k_[offset(layer, pos, kv_dim_)];
  uint16_t* vd = &v_[offset(layer, pos, v_dim_)];
  for (int64_t i = 0; i < kv_dim_; ++i) kd[i] = quant::fp32_to_fp16(k[i]);
  for (int64_t i = 0; i < v_dim_; ++i) vd[i] = quant::fp32_to_fp16(v[i]);
}

void attention(const ModelConfig& c, const KvCache& cache, int layer, const float* q,
               int64_t n_tokens, int64_t pos0, float* out, const float* sinks, int64_t n_swa) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  attention(AttentionShape{c.n_head, c.n_head_kv, c.head_dim, c.head_dim, scale}, cache, layer, q,
            n_tokens, pos0, out, sinks, n_swa);
}

void attention(const AttentionShape& s, const KvCache& cache, int layer, const float* q,
               int64_t n_tokens, int64_t pos0, float* out, const float* sinks, int64_t n_swa) {
  const int64_t hd = s.k_dim, vd = s.v_dim;
  const int group = s.n_head / s.n_head_kv;
  const float scale = s.scale;
  tbb::parallel_for(int64_t{0}, n_tokens * s.n_head, [&](int64_t job) {
    const int64_t t = job / s.n_head;
    const int h = static_cast<int>(job % s.n_head);
    const int kvh = h / group;
    const int64_t n_kv = pos0 + t + 1;  // causal: positions 0..pos0+t
    // Sliding window: positions before n_kv - n_swa are masked (-inf). The
    // row starts at a multiple of 4 so that the soft-max sums the same
    // groups of four as ggml's row over every cached position does.
    const int64_t j0 = n_swa > 0 ? std::max<int64_t>(0, n_kv - n_swa) / 4 * 4 : 0;
    const int64_t j_visible = n_swa > 0 ? std::max<int64_t>(0, n_kv - n_swa) : 0;
    // Per-thread scratch: no TBB waits inside, so a thread never re-enters.
    thread_local std::vector<uint16_t> qh;
    thread_local std::vector<float> p;
    thread_local std::vector<double> acc;
    qh.resize(static_cast<size_t>(hd));
    const float* qsrc = q + (t * s.n_head + h) * hd;
    for (int64_t i = 0; i < hd; ++i) qh[i] = quant::fp32_to_fp16(qsrc[i]);
    // ggml soft-maxes a padded row whose masked entries are -inf; padding to
    // a multiple of 4 makes every real entry go through the same exp.
    const int64_t n_pad = (n_kv - j0 + 3) / 4 * 4;
    p.assign(static_cast<size_t>(n_pad), -INFINITY);
    for (int64_t j = j_visible; j < n_kv; ++j) {
      p[j - j0] = simd::dot_f16(qh.data(), cache.k(layer, j) + kvh * hd, hd) * scale;
    }
    if (sinks != nullptr) {
      softmax_with_sink(p.data(), n_pad, sinks[h]);
    } else {
      softmax(p.data(), n_pad);
    }
    // Products of two F16 values are exact in float; ggml sums them over the
    // positions in double (its V product is a dot over the transposed cache).
    for (int64_t j = j0; j < n_kv; ++j) p[j - j0] = quant::fp16_to_fp32(quant::fp32_to_fp16(p[j - j0]));
    acc.assign(static_cast<size_t>(vd), 0.0);
    simd::weighted_rows_f16_double(p.data(), n_kv - j0, cache.v(layer, j0) + kvh * vd, cache.v_stride(),
                                   acc.data(), vd);
    float* o = out + (t * s.n_head + h) * vd;
    for (int64_t i = 0; i < vd; ++i) o[i] = static_cast<float>(acc[i]);
  });
}

}  // namespace apex::engine
