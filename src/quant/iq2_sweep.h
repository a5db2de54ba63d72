// The scale sweeps of the IQ2 fast paths (Highway SIMD, iq2_sweep_simd.cpp).
//
// IQ2_XXS, IQ2_XS and IQ2_S try 13 or 19 inverse scales per group: round
// every magnitude to a code 0..2 at that scale, move octets that miss the
// codebook onto it, then fit. Each scale's rounding and fit depend only on
// that scale, so the fast path runs them for all scales at once, one scale
// per SIMD lane, with the reference's expressions (lane-wise IEEE operations,
// no fused multiply-add, the fit's sums accumulated element by element in the
// reference's order), and leaves only the cheap sequential acceptance of the
// best scale to scalar code. Codes are kept transposed, element-major:
// codes[i * kMaxScales + s] is element i's code at scale s.
#pragma once

#include <cstdint>

namespace apex::quant::iq2 {

constexpr int kMaxScales = 32;  // room for the 19 scales, padded to whole vectors

// For each scale s < nscales and element i < n (n a multiple of 8):
//   codes[i * kMaxScales + s] = clamp(nearest_int(0.5f * (ids[s] * ax[i] - 1)), 0, 2)
//   keys[k * kMaxScales + s]  = octet k's packed key (code i in bits 2i..2i+1)
// ids must be readable (any finite value) up to kMaxScales.
void round_sweep(const float* ax, int n, const float* ids, int nscales, int8_t* codes, uint16_t* keys);

// For each scale s < nscales, the reference's fit_terms over n elements:
//   sumqx[s] = sum_i w[i] * ax[i] * q,  sumq2[s] = sum_i w[i] * q * q,  q = 2c + 1,
// accumulated from 0 in element order. Outputs must hold kMaxScales floats.
void fit_sweep(const float* ax, const float* w, int n, const int8_t* codes, int nscales, float* sumqx,
               float* sumq2);

}  // namespace apex::quant::iq2
