#include "engine/mamba2.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

}  // namespace

void mamba2_block(const ModelConfig& c, const LayerWeights& l, int layer, RecurrentState& state,
                  const float* x, int64_t T, float* out, MatmulObserver* observer) {
  const int64_t DI = c.ssm_d_inner, DS = c.ssm_d_state, NG = c.ssm_n_group, NH = c.ssm_dt_rank;
  const int64_t K = c.ssm_d_conv, HD = DI / NH, C = c.ssm_conv_dim(), P = l.ssm_in.n_out;
  const int64_t heads_per_group = NH / NG;
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };

  // zxbcdt[T][P] = ssm_in x.
  std::vector<float> zxbcdt = buf(T * P);
  if (observer != nullptr) observer->on_matmul(l.ssm_in, -1, x, T);
  matmul(l.ssm_in, 0, x, T, zxbcdt.data(), P);

  // conv_in: the K - 1 carried rows of x B C, then this batch's; the last
  // K - 1 rows become the carried state.
  std::vector<float> conv_in = buf((K - 1 + T) * C);
  float* conv_state = state.conv(layer);
  std::copy_n(conv_state, (K - 1) * C, conv_in.data());
  for (int64_t t = 0; t < T; ++t) {
    std::copy_n(&zxbcdt[t * P + DI], C, &conv_in[(K - 1 + t) * C]);
  }
  std::copy_n(&conv_in[T * C], (K - 1) * C, conv_state);

  // xbc[T][C] = silu(conv1d + bias): taps summed oldest first in float, as
  // ggml's ssm_conv does, then the bias added.
  std::vector<float> xbc = buf(T * C);
  const float* w = l.ssm_conv1d.f32();  // [C][K]
  const float* bias = l.ssm_conv1d_b.f32();
  tbb::parallel_for(int64_t{0}, T, [&](int64_t t) {
    for (int64_t ch = 0; ch < C; ++ch) {
      float sum = 0.0f;
      for (int64_t k = 0; k < K; ++k) sum += conv_in[(t + k) * C + ch] * w[ch * K + k];
      xbc[t * C + ch] = sum + bias[ch];
    }
    silu_row(&xbc[t * C], C);
  });

  // The scan, per head over the batch's tokens in order; y[T][DI]. The
  // state is kept [NH][DS][HD] (ggml keeps [NH][HD][DS]) so that the inner
  // loop runs over HD independent rows side by side, each with ggml's
  // operations in ggml's order (state j of row i, sums over j ascending):
  // same values, without one long chain of dependent float adds per row.
  std::vector<float> y = buf(T * DI);
  float* ssm = state.ssm(layer);  // [NH][DS][HD]
  const float* A = l.ssm_a.f32();
  const float* D = l.ssm_d.f32();
  const float* dt_bias = l.ssm_dt.f32();
  tbb::parallel_for(int64_t{0}, NH, [&](int64_t h) {
    const int64_t g = h / heads_per_group;
    float* s = ssm + h * HD * DS;
    std::vector<float> x_dt(static_cast<size_t>(HD)), sum(static_cast<size_t>(HD));
    for (int64_t t = 0; t < T; ++t) {
      const float dt = softplus(zxbcdt[t * P + 2 * DI + 2 * NG * DS + h] + dt_bias[h]);
      const float dA = std::exp(dt * A[h]);
      const float* xh = &xbc[t * C + h * HD];
      const float* B = &xbc[t * C + DI + g * DS];
      const float* Cm = &xbc[t * C + DI + NG * DS + g * DS];
      for (int64_t i = 0; i < HD; ++i) {
        x_dt[i] = xh[i] * dt;
        sum[i] = 0.0f;
      }
      float* __restrict acc = sum.data();
      const float* __restrict xd = x_dt.data();
      for (int64_t j = 0; j < DS; ++j) {
        float* __restrict sj = s + j * HD;
        const float bj = B[j], cj = Cm[j];
        for (int64_t i = 0; i < HD; ++i) {
          const float v = sj[i] * dA + bj * xd[i];
          acc[i] += v * cj;
          sj[i] = v;
        }
      }
      for (int64_t i = 0; i < HD; ++i) y[t * DI + h * HD + i] = sum[i] + xh[i] * D[h];
    }
  });

  // silu(z) * y per head row (ggml's swiglu), then the grouped RMS norm.
  const int64_t GS = DI / NG;
  const float* norm = l.ssm_norm.f32();
  for (int64_t t = 0; t < T; ++t) {
    float* yt = &y[t * DI];
    const float* z = &zxbcdt[t * P];
    for (int64_t h = 0; h < NH; ++h) swiglu(z + h * HD, yt + h * HD, HD, yt + h * HD);
    for (int64_t g = 0; g < NG; ++g) rms_norm(yt + g * GS, norm + g * GS, c.rms_eps, GS, yt + g * GS);
  }
  if (observer != nullptr) observer->on_matmul(l.ssm_out, -1, y.data(), T);
  matmul(l.ssm_out, 0, y.data(), T, out, c.n_embd);
}

}  // namespace apex::engine
