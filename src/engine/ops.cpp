#include "engine/ops.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/kernels_simd.h"

namespace apex::engine {

void rms_norm(const float* x, const float* gain, float eps, int64_t n, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  // ggml scales first and applies the gain in a separate multiply.
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] * scale;
    y[i] = gain != nullptr ? v * gain[i] : v;
  }
}

void rope(float* head, int64_t head_dim, int64_t pos, RopeType type, float freq_base,
          float freq_scale) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(head_dim));
  float theta = static_cast<float>(pos);
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float t = freq_scale * theta;
    const float c = std::cos(t), s = std::sin(t);
    // NORM pairs neighbours; NEOX pairs dimension i with i + head_dim/2.
    const int64_t a = type == RopeType::kNorm ? 2 * i : i;
    const int64_t b = type == RopeType::kNorm ? 2 * i + 1 : i + half;
    const float x0 = head[a], x1 = head[b];
    head[a] = x0 * c - x1 * s;
    head[b] = x0 * s + x1 * c;
    theta *= theta_scale;
  }
}

// exp(x) as ggml's plain x86-64 build computes it four lanes at a time (the
// expf of ARM's optimized-routines: x = n ln2 + b with n rounded by the
// 1.5*2^23 trick, ln2 split in two parts, a degree-5 polynomial in b, the
// result scaled by 2^n through the exponent bits; multiply-adds are separate
// multiplies and adds there). Logits only match the oracle within 1e-3 when
// the attention probabilities, which are rounded to F16 next, come out of
// the same function bit for bit.
float exp_approx(float x) {
  const float shift = 0x1.8p23f;
  const float z = x * 0x1.715476p+0f + shift;
  const float n = z - shift;
  const float b = (x - n * 0x1.62e4p-1f) - n * 0x1.7f7d1cp-20f;
  const uint32_t e = std::bit_cast<uint32_t>(z) << 23;
  const float k = std::bit_cast<float>(e + std::bit_cast<uint32_t>(1.0f));
  const float u = b * b;
  const float j = ((0x1.0e4020p-7f * b + 0x1.573e2ep-5f) * u + (0x1.555e66p-3f * b + 0x1.fffdb6p-2f)) * u +
                  0x1.ffffecp-1f * b;
  if (!(std::fabs(n) > 126.0f)) return j * k + k;
  // Results near or beyond the float range: scale in two steps.
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = std::bit_cast<float>(g + 0x7f000000u);
  const float s2 = std::bit_cast<float>(e - g);
  if (std::fabs(n) > 192.0f) return s1 * s1;
  return (s2 * j + s2) * s1;
}

namespace {

void softmax_impl(float* x, int64_t n, const float* sink) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (sink != nullptr) max = std::max(max, *sink);
  // Groups of four use exp_approx and are summed pairwise in float before
  // joining the double total, as ggml's SSE2 loop does; the tail uses expf.
  double sum = 0.0;
  const int64_t n4 = n / 4 * 4;
  simd::exp_sub(x, max, x, n4);
  int64_t i = 0;
  for (; i < n4; i += 4) sum += static_cast<double>((x[i] + x[i + 1]) + (x[i + 2] + x[i + 3]));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  if (sink != nullptr) sum += static_cast<double>(std::exp(*sink - max));
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

// ggml_rope_yarn_corr_dim: the dimension whose wavelength fits n_rot
// times into the original context.
float yarn_corr_dim(int64_t n_dims, int64_t n_ctx_orig, float n_rot, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * static_cast<float>(M_PI))) /
         (2.0f * std::log(base));
}

}  // namespace

void softmax(float* x, int64_t n) { softmax_impl(x, n, nullptr); }

void softmax_with_sink(float* x, int64_t n, float sink) { softmax_impl(x, n, &sink); }

void rope_ext(float* head, int64_t n_dims, int64_t pos, RopeType type, float freq_base,
              float freq_scale, const YarnParams& y) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_dims));
  float low = 0.0f, high = 0.0f;
  if (y.ext_factor != 0.0f) {
    low = std::max(0.0f, std::floor(yarn_corr_dim(n_dims, y.n_ctx_orig, y.beta_fast, freq_base)));
    high = std::min(static_cast<float>(n_dims - 1),
                    std::ceil(yarn_corr_dim(n_dims, y.n_ctx_orig, y.beta_slow, freq_base)));
  }
  float theta = static_cast<float>(pos);
  const int64_t half = n_dims / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float interp = freq_scale * theta;
    float t = interp, mscale = y.attn_factor;
    if (y.ext_factor != 0.0f) {
      // ggml's ramp takes i0 / 2 = i (pair index) against the corrections.
      const float r = (static_cast<float>(i) - low) / std::max(0.001f, high - low);
      const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, r))) * y.ext_factor;
      t = interp * (1.0f - ramp) + theta * ramp;
      mscale *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
    }
    const float c = std::cos(t) * mscale, s = std::sin(t) * mscale;
    const int64_t a = type == RopeType::kNorm ? 2 * i : i;
    const int64_t b = type == RopeType::kNorm ? 2 * i + 1 : i + half;
    const float x0 = head[a], x1 = head[b];
    head[a] = x0 * c - x1 * s;
    head[b] = x0 * s + x1 * c;
    theta *= theta_scale;
  }
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }
// ggml computes qwen2moe's shared-expert gate as silu(x) / x.
float sigmoid(float x) { return x != 0.0f ? silu(x) / x : 0.5f; }

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  // Groups of four through exp_approx, the tail through expf (as ggml).
  const int64_t n4 = n / 4 * 4;
  simd::swiglu_approx(gate, up, out, n4);
  for (int64_t i = n4; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

}  // namespace apex::engine
