// Element-wise building blocks of the forward pass, each as ggml's CPU
// backend computes it (the order of roundings that matter for a 1e-3
// agreement is noted where it matters).
#pragma once

#include <cstdint>

#include "engine/config.h"

namespace apex::engine {

// y = x / sqrt(mean(x^2) + eps) * gain (gain may be null); the sum of squares
// in double as ggml does. y may alias x.
void rms_norm(const float* x, const float* gain, float eps, int64_t n, float* y);

// Rotates one head (head_dim floats) in place for position `pos`.
// theta_i = pos * freq_scale * base^(-2i/head_dim), the powers built by
// repeated multiplication as ggml builds its cache.
void rope(float* head, int64_t head_dim, int64_t pos, RopeType type, float freq_base,
          float freq_scale);

// In-place softmax of n floats (sum in double).
void softmax(float* x, int64_t n);

// RoPE as ggml_rope_ext computes it with YaRN (y.ext_factor != 0): pair i
// turns by a mix of the interpolated angle freq_scale * theta_i and the
// extrapolated theta_i, ramped between ggml's correction dimensions, and
// cos/sin are scaled by attn_factor * (1 + 0.1 ln(1 / freq_scale)). With
// ext_factor 0 and attn_factor 1 it equals rope().
void rope_ext(float* head, int64_t n_dims, int64_t pos, RopeType type, float freq_base,
              float freq_scale, const YarnParams& y);

// softmax over x[0..n) and one more logit `sink` that is not written back:
// the sink only enlarges the denominator (gpt-oss's attention sinks, as
// ggml_soft_max_ext with sinks: it joins the max and adds expf(sink - max)).
void softmax_with_sink(float* x, int64_t n, float sink);

float silu(float x);
// exp as ggml's SSE2 kernels approximate it (see ops.cpp).
float exp_approx(float x);
float sigmoid(float x);

// out[i] = silu(gate[i]) * up[i]
void swiglu(const float* gate, const float* up, int64_t n, float* out);

}  // namespace apex::engine
