#include "engine/delta_net.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "engine/matmul.h"
#include "engine/ops.h"

namespace apex::engine {
namespace {

// silu over one row as ggml's plain x86-64 build computes ggml_silu: groups
// of four through its SSE2 exp, the tail through expf.
void silu_row(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 3 < n; i += 4) {
    for (int l = 0; l < 4; ++l) x[i + l] = x[i + l] / (1.0f + exp_approx(0.0f - x[i + l]));
  }
  for (; i < n; ++i) x[i] = silu(x[i]);
}

// ggml_vec_dot_f32 without SIMD: float products summed in double.
float dot_double(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

void project(const Weight& w, const float* x, int64_t n_tokens, float* y,
             MatmulObserver* observer) {
  if (observer != nullptr) observer->on_matmul(w, -1, x, n_tokens);
  matmul(w, 0, x, n_tokens, y, w.n_out);
}

}  // namespace

float softplus(float x) { return x > 20.0f ? x : std::log(1.0f + std::exp(x)); }

float logistic(float x) { return 1.0f / (1.0f + std::exp(-x)); }

RecurrentState::RecurrentState(const ModelConfig& c) {
  conv_offset_.assign(static_cast<size_t>(c.n_layer), 0);
  ssm_offset_.assign(static_cast<size_t>(c.n_layer), 0);
  size_t conv_total = 0, ssm_total = 0;
  for (int il = 0; il < c.n_layer; ++il) {
    if (!c.is_recurrent(il)) continue;
    conv_offset_[static_cast<size_t>(il)] = conv_total;
    ssm_offset_[static_cast<size_t>(il)] = ssm_total;
    conv_total += static_cast<size_t>((c.ssm_d_conv - 1) * c.ssm_conv_dim());
    // Gated DeltaNet: an S x S matrix per value head; Mamba-2 (ssm_d_inner
    // set): d_state floats per value channel.
    ssm_total += static_cast<size_t>(c.ssm_d_inner > 0 ? c.ssm_d_inner * c.ssm_d_state
                                                       : c.ssm_dt_rank * c.ssm_d_state * c.ssm_d_state);
  }
  conv_.assign(conv_total, 0.0f);
  ssm_.assign(ssm_total, 0.0f);
}

void RecurrentState::clear() {
  std::fill(conv_.begin(), conv_.end(), 0.0f);
  std::fill(ssm_.begin(), ssm_.end(), 0.0f);
}

void delta_net_block(const ModelConfig& c, const LayerWeights& l, int layer, RecurrentState& state,
                     const float* x, int64_t T, float* out, MatmulObserver* observer) {
  const int64_t C = c.ssm_conv_dim(), VD = c.ssm_value_dim(), KD = c.ssm_key_dim();
  const int64_t S = c.ssm_d_state, HK = c.ssm_n_group, HV = c.ssm_dt_rank, K = c.ssm_d_conv;
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };

  // Projections of the normed input: qkv[T][C], z[T][VD], beta and alpha [T][HV].
  // conv_in holds the K - 1 carried rows, then this batch's qkv rows.
  std::vector<float> conv_in = buf((K - 1 + T) * C), z = buf(T * VD);
  std::vector<float> beta = buf(T * HV), gate = buf(T * HV);
  float* conv_state = state.conv(layer);
  std::copy_n(conv_state, (K - 1) * C, conv_in.data());
  float* qkv = conv_in.data() + (K - 1) * C;
  project(l.ssm_qkv, x, T, qkv, observer);
  project(l.ssm_z, x, T, z.data(), observer);
  project(l.ssm_beta, x, T, beta.data(), observer);
  project(l.ssm_alpha, x, T, gate.data(), observer);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < HV; ++h) {
      float& b = beta[t * HV + h];
      b = logistic(b);
      float& g = gate[t * HV + h];
      g = softplus(g + l.ssm_dt.f32()[h]) * l.ssm_a.f32()[h];
    }
  }
  // The carried rows for the next batch: the last K - 1 rows of conv_in.
  std::copy_n(conv_in.data() + T * C, (K - 1) * C, conv_state);

  // Causal conv1d per channel (taps oldest first, summed in float as
  // ggml_ssm_conv does), then silu per token row.
  std::vector<float> conv = buf(T * C);
  const float* w = l.ssm_conv1d.f32();  // [C][K]
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    for (int64_t ch = 0; ch < C; ++ch) {
      float sum = 0.0f;
      for (int64_t k = 0; k < K; ++k) sum += conv_in[(t + k) * C + ch] * w[ch * K + k];
      conv[t * C + ch] = sum;
    }
    silu_row(&conv[t * C], C);
    // L2-normalise every q and k head: llama.cpp's rms_norm with eps / S,
    // scaled by 1 / sqrt(S).
    const float eps = c.rms_eps / static_cast<float>(S);
    const float inv_sqrt_s = 1.0f / std::sqrt(static_cast<float>(S));
    for (int64_t h = 0; h < 2 * HK; ++h) {
      float* v = &conv[t * C + h * S];
      rms_norm(v, nullptr, eps, S, v);
      for (int64_t i = 0; i < S; ++i) v[i] *= inv_sqrt_s;
    }
  });

  // The delta rule, token by token per value head.
  std::vector<float> o = buf(T * VD);
  float* ssm = state.ssm(layer);
  const float scale = 1.0f / std::sqrt(static_cast<float>(S));
  tbb::parallel_for(int64_t{0}, HV, [&](int64_t hv) {
    float* M = ssm + hv * S * S;
    const int64_t hk = hv % HK;
    std::vector<float> delta(static_cast<size_t>(S));
    for (int64_t t = 0; t < T; ++t) {
      const float* q = &conv[t * C + hk * S];
      const float* k = &conv[t * C + KD + hk * S];
      const float* v = &conv[t * C + 2 * KD + hv * S];
      const float b = beta[t * HV + hv];
      const float decay = std::exp(gate[t * HV + hv]);
      for (int64_t i = 0; i < S * S; ++i) M[i] *= decay;
      for (int64_t j = 0; j < S; ++j) delta[j] = (v[j] - dot_double(&M[j * S], k, S)) * b;
      for (int64_t j = 0; j < S; ++j) {
        float* row = &M[j * S];
        for (int64_t i = 0; i < S; ++i) row[i] += k[i] * delta[j];
      }
      float* oh = &o[t * VD + hv * S];
      for (int64_t j = 0; j < S; ++j) oh[j] = dot_double(&M[j * S], q, S) * scale;
    }
  });

  // Per head: rmsnorm(o) * ssm_norm * silu(z), then back to n_embd.
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    for (int64_t hv = 0; hv < HV; ++hv) {
      float* oh = &o[t * VD + hv * S];
      float* zh = &z[t * VD + hv * S];
      rms_norm(oh, l.ssm_norm.f32(), c.rms_eps, S, oh);
      silu_row(zh, S);
      for (int64_t i = 0; i < S; ++i) oh[i] *= zh[i];
    }
  });
  project(l.ssm_out, o.data(), T, out, observer);
}

}  // namespace apex::engine
