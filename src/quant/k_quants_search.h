// Scale searches shared by the K-quant formats (Q2_K .. Q6_K).
//
// A K-quant super-block of 256 values is cut into sub-blocks of 16 or 32.
// Each sub-block gets small integer codes plus a scale (and, for Q2_K, Q4_K
// and Q5_K, a min); the sub-block scales are themselves quantized against an
// fp16 super-scale. Picking those scales is a small weighted least-squares
// search, and the searches below are the ones llama.cpp runs (ggml-quants.c).
//
// The bytes a quantizer writes are a compatibility promise, so every search
// here reproduces ggml's float arithmetic operation for operation: the same
// accumulation order, the same products grouped the same way ((w*l)*l, not
// w*(l*l)), the same integer truncations. Anything that looks like a clumsy
// expression below is usually kept that way on purpose.
//
// Each search has a scalar reference for one group of values. The
// super-block quantizers call the *_groups_* forms, which fit every
// sub-block of a super-block: *_groups_ref loops over the scalar reference,
// *_groups_fast (Highway SIMD, k_quants_search_simd.cpp) runs one sub-block
// per SIMD lane, each lane performing exactly the reference's operations, so
// the results are identical.
#pragma once

#include <cstdint>

namespace apex::quant::kq {

constexpr int kSuperBlock = 256;  // QK_K: values per K-quant super-block
// A group whose largest magnitude is below this is treated as all zeros.
constexpr float kGroupMaxEps = 1e-15f;

// The grid of candidate inverse scales tried by fit_scale_min:
//   iscale_k = (nmax + rmin + rdelta * k) / (max - min),  k = 0 .. nstep.
struct ScaleMinGrid {
  float rmin;
  float rdelta;
  int nstep;
  bool use_mad;  // minimise the weighted |error| instead of the weighted error^2
};

// Fits x[i] ~= scale * q[i] - offset with codes q[i] in [0, nmax] and an
// offset >= 0 (the group's minimum, never above zero, so that a group of
// positive values still maps 0 to code 0). Starts from the plain min/max
// mapping, then tries each grid candidate: round with it, solve the weighted
// least-squares scale and min for those codes, and keep it if its weighted
// error is lower. An accepted candidate also moves the min the next
// candidates round against (ggml behaves this way; it makes the candidates
// depend on each other).
// Returns the scale, writes the codes to q[0..n) and the offset (= -min).
// ggml: make_qkx2_quants, and make_qkx3_quants with weights.
float fit_scale_min_ref(const float* x, const float* w, int n, int nmax, const ScaleMinGrid& grid,
                        uint8_t* q, float* offset);

// Fits x[i] ~= scale * (q[i] - nmax) with q[i] in [0, 2*nmax - 1], weighting
// element i by w[i] (by x[i]^2 when w is null). The element of largest
// magnitude decides the sign of the scale so that it lands on code 0, the one
// extra negative level. Tries inverse scales -(nmax + 0.1k)/max, k = -9..9,
// and keeps the one whose least-squares scale explains the most weighted
// energy. Returns the scale; all-zero groups give 0 and codes 0.
// ggml: make_qx_quants with rmse_type 1.
float fit_symmetric_ref(const float* x, const float* w, int n, int nmax, int8_t* q);

// Like fit_symmetric with weights x[i]^2, but instead of a grid it starts
// from the min/max mapping and then moves single codes for up to five
// passes, keeping each move that raises the explained energy.
// ggml: make_q3_quants with do_rmse (Q3_K without an importance matrix).
float fit_symmetric_coordinate(const float* x, int n, int nmax, int8_t* q);

// Fit `groups` consecutive groups of n values each (x and w hold groups * n
// values; w may be null where the single-group form allows it). Group g's
// codes go to q[g*n .. g*n + n), its scale to scales[g] (and its offset to
// offsets[g]).
void fit_scale_min_groups_ref(const float* x, const float* w, int groups, int n, int nmax,
                              const ScaleMinGrid& grid, uint8_t* q, float* scales, float* offsets);
void fit_scale_min_groups_fast(const float* x, const float* w, int groups, int n, int nmax,
                               const ScaleMinGrid& grid, uint8_t* q, float* scales, float* offsets);
void fit_symmetric_groups_ref(const float* x, const float* w, int groups, int n, int nmax, int8_t* q,
                              float* scales);
void fit_symmetric_groups_fast(const float* x, const float* w, int groups, int n, int nmax, int8_t* q,
                               float* scales);
void fit_symmetric_coordinate_groups_ref(const float* x, int groups, int n, int nmax, int8_t* q,
                                         float* scales);
void fit_symmetric_coordinate_groups_fast(const float* x, int groups, int n, int nmax, int8_t* q,
                                          float* scales);

// Quantizes non-negative values (the sub-block scales or mins of a
// super-block) to codes q[i] in [0, nmax] under one scale, weighting by w:
// a small grid of inverse scales followed by coordinate moves.
// Returns the scale. ggml: make_qp_quants.
float fit_unsigned(const float* x, const float* w, int n, int nmax, uint8_t* q);

}  // namespace apex::quant::kq
