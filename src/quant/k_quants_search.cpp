// Scalar reference versions of the K-quant scale searches. See
// k_quants_search.h for what each one fits; the comments here explain the
// places where the arithmetic has to be exactly ggml's.
#include "quant/k_quants_search.h"

#include <algorithm>
#include <cmath>

#include "quant/rounding.h"

namespace apex::quant::kq {
namespace {

// Rounds v * iscale into [lo, hi]. Every search rounds this way.
inline int round_clamped(float v, int lo, int hi) {
  return std::clamp(nearest_int(v), lo, hi);
}

// The weighted error of one element: |d| or d^2, times w.
inline float weighted_error(float w, float diff, bool use_mad) {
  return w * (use_mad ? std::fabs(diff) : diff * diff);
}

}  // namespace

float fit_scale_min_ref(const float* x, const float* w, int n, int nmax, const ScaleMinGrid& grid,
                        uint8_t* q, float* offset) {
  // Range and weighted moments, accumulated left to right.
  float min = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  // The stored min is subtracted as a non-negative offset, so it never
  // rises above zero.
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(q, q + n, uint8_t{0});
    *offset = -min;
    return 0.0f;
  }

  // Starting point: spread [min, max] over all nmax + 1 codes.
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    q[i] = static_cast<uint8_t>(round_clamped(iscale * (x[i] - min), 0, nmax));
    const float diff = scale * q[i] + min - x[i];
    best_error += weighted_error(w[i], diff, grid.use_mad);
  }
  if (grid.nstep < 1) {
    *offset = -min;
    return scale;
  }

  uint8_t trial[kSuperBlock];
  for (int k = 0; k <= grid.nstep; ++k) {
    // `min` may have moved at an earlier accepted candidate; ggml rounds the
    // later candidates against the moved value, and so must we.
    iscale = (grid.rmin + grid.rdelta * static_cast<float>(k) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = round_clamped(iscale * (x[i] - min), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      const float wl = w[i] * static_cast<float>(l);
      sum_l += wl;
      sum_l2 += wl * static_cast<float>(l);
      sum_xl += wl * x[i];
    }
    // Weighted least squares for x ~= scale * l + min given these codes.
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {  // the min must stay <= 0: refit the scale alone
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * trial[i] + this_min - x[i];
      error += weighted_error(w[i], diff, grid.use_mad);
    }
    if (error < best_error) {
      std::copy(trial, trial + n, q);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *offset = -min;
  return scale;
}

float fit_symmetric_ref(const float* x, const float* w, int n, int nmax, int8_t* q) {
  // The signed value of largest magnitude (the first one on ties).
  float amax = 0;
  float max = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(q, q + n, int8_t{0});
    return 0.0f;
  }
  auto weight = [&](int i) { return w != nullptr ? w[i] : x[i] * x[i]; };

  // Candidate k = 0: max lands exactly on code -nmax.
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = round_clamped(iscale * x[i], -nmax, nmax - 1);
    q[i] = static_cast<int8_t>(l + nmax);
    const float wi = weight(i);
    sumlx += wi * x[i] * static_cast<float>(l);
    suml2 += wi * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  // For a fixed set of codes the least-squares scale explains
  // sumlx^2 / suml2 of the weighted energy; more is better.
  float best = scale * sumlx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = round_clamped(iscale * x[i], -nmax, nmax - 1);
      const float wi = weight(i);
      sumlx += wi * x[i] * static_cast<float>(l);
      suml2 += wi * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        q[i] = static_cast<int8_t>(round_clamped(iscale * x[i], -nmax, nmax - 1) + nmax);
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

float fit_symmetric_coordinate(const float* x, int n, int nmax, int8_t* q) {
  float amax = 0;
  float max = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(q, q + n, int8_t{0});
    return 0.0f;
  }
  // Signed codes in [-nmax, nmax - 1] while searching; biased at the end.
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = round_clamped(iscale * x[i], -nmax, nmax - 1);
    q[i] = static_cast<int8_t>(l);
    const float wi = x[i] * x[i];
    sumlx += wi * x[i] * static_cast<float>(l);
    suml2 += wi * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float wi = x[i] * x[i];
      const float li = static_cast<float>(q[i]);
      // The sums without element i; its best code given the others'
      // least-squares scale is x[i] / scale = x[i] * sl2 / slx.
      float slx = sumlx - wi * x[i] * li;
      if (!(slx > 0)) continue;
      float sl2 = suml2 - wi * li * li;
      const int new_l = round_clamped(x[i] * sl2 / slx, -nmax, nmax - 1);
      if (new_l == q[i]) continue;
      slx += wi * x[i] * static_cast<float>(new_l);
      sl2 += wi * static_cast<float>(new_l) * static_cast<float>(new_l);
      // Accept when slx^2/sl2 > sumlx^2/suml2, compared without dividing.
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        q[i] = static_cast<int8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(q[i] + nmax);
  return suml2 > 0 ? sumlx / suml2 : 0.0f;
}

float fit_unsigned(const float* x, const float* w, int n, int nmax, uint8_t* q) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];  // NaN in x[i] wins, as in ggml
  if (max < kGroupMaxEps) {
    std::fill(q, q + n, uint8_t{0});
    return 0.0f;
  }
  // Codes are stored as bytes; ggml stores a rounded value that may be
  // negative (a negative scale) without clamping, so it wraps like a byte
  // here too, and later reads see the wrapped value.
  float iscale = static_cast<float>(nmax) / max;
  for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  const float scale0 = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale0 * q[i];
    best_mse += w[i] * diff * diff;
  }
  // A few nearby inverse scales; only the inverse scale is remembered.
  for (int k = -4; k <= 4; ++k) {
    if (k == 0) continue;
    const float iscale_k = (0.1f * static_cast<float>(k) + static_cast<float>(nmax)) / max;
    const float scale_k = 1 / iscale_k;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, nearest_int(iscale_k * x[i]));
      const float diff = x[i] - scale_k * static_cast<float>(l);
      mse += w[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_k;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest_int(iscale * x[i]));
    q[i] = static_cast<uint8_t>(l);
    // The sums use the unwrapped code, the stored byte may differ.
    sumlx += w[i] * x[i] * static_cast<float>(l);
    suml2 += w[i] * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float li = static_cast<float>(q[i]);
      float slx = sumlx - w[i] * x[i] * li;
      float sl2 = suml2 - w[i] * li * li;
      if (!(slx > 0 && sl2 > 0)) continue;
      const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
      if (new_l == q[i]) continue;
      slx += w[i] * x[i] * static_cast<float>(new_l);
      sl2 += w[i] * static_cast<float>(new_l) * static_cast<float>(new_l);
      if (slx * slx * suml2 > sumlx * sumlx * sl2) {
        q[i] = static_cast<uint8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  return suml2 > 0 ? sumlx / suml2 : 0.0f;
}

void fit_scale_min_groups_ref(const float* x, const float* w, int groups, int n, int nmax,
                              const ScaleMinGrid& grid, uint8_t* q, float* scales, float* offsets) {
  for (int g = 0; g < groups; ++g) {
    scales[g] = fit_scale_min_ref(x + g * n, w + g * n, n, nmax, grid, q + g * n, &offsets[g]);
  }
}

void fit_symmetric_groups_ref(const float* x, const float* w, int groups, int n, int nmax, int8_t* q,
                              float* scales) {
  for (int g = 0; g < groups; ++g) {
    scales[g] = fit_symmetric_ref(x + g * n, w != nullptr ? w + g * n : nullptr, n, nmax, q + g * n);
  }
}

void fit_symmetric_coordinate_groups_ref(const float* x, int groups, int n, int nmax, int8_t* q,
                                         float* scales) {
  for (int g = 0; g < groups; ++g) scales[g] = fit_symmetric_coordinate(x + g * n, n, nmax, q + g * n);
}

}  // namespace apex::quant::kq
