// Highway kernels behind the float and classic block formats (float_types,
// q_legacy). Internal to src/quant: callers use the quantize_<t> /
// dequantize_<t> entry points, which route here.
//
// Every kernel does the same IEEE single-precision operations, in the same
// order per element, as the scalar reference, so its output is equal byte for
// byte on every Highway target. A block whose data could make the reference
// take a path the vector code does not model (NaN, infinity, a scale that
// is subnormal, so its reciprocal overflows) is handed to the scalar block
// function instead.
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant::legacy_simd {

// Element conversions; same bits as fp32_to_fp16 / fp32_to_bf16 (fp16.h) and
// the oracle's row conversions.
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n);
void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);
void fp32_to_bf16_row(const float* src, uint16_t* dst, int64_t n);
void bf16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);

// Plain (no importance weights) block quantizers: `nblocks` blocks of 32
// floats into packed blocks.
void quantize_q4_0_blocks(const float* src, uint8_t* dst, int64_t nblocks);
void quantize_q4_1_blocks(const float* src, uint8_t* dst, int64_t nblocks);
void quantize_q5_0_blocks(const float* src, uint8_t* dst, int64_t nblocks);
void quantize_q5_1_blocks(const float* src, uint8_t* dst, int64_t nblocks);
void quantize_q8_0_blocks(const float* src, uint8_t* dst, int64_t nblocks);

void dequantize_q4_0_blocks(const uint8_t* src, float* dst, int64_t nblocks);
void dequantize_q4_1_blocks(const uint8_t* src, float* dst, int64_t nblocks);
void dequantize_q5_0_blocks(const uint8_t* src, float* dst, int64_t nblocks);
void dequantize_q5_1_blocks(const uint8_t* src, float* dst, int64_t nblocks);
void dequantize_q8_0_blocks(const uint8_t* src, float* dst, int64_t nblocks);

// Importance-weighted scale searches (Q4_0/Q5_0 and Q4_1/Q5_1 with an
// imatrix) try many candidate inverse scales per block. Each candidate's sums
// run over the block in element order, exactly as the scalar search does, but
// candidates are independent, so the kernels evaluate one candidate per lane.

// Symmetric search: candidate k has inverse scale -(nmax + step/10) / max for
// steps -9..-1, 1..9 (k = 0..17).
inline constexpr int kSymmetricCandidates = 18;
struct SymmetricScores {
  float sumlx[kSymmetricCandidates];  // sum w * x * l
  float suml2[kSymmetricCandidates];  // sum w * l * l
};
void score_symmetric_candidates(const float* x, const float* w, int nmax, float max,
                                SymmetricScores* out);

// Affine search: candidate k (0..36) has inverse scale
// (nmax - 0.9 + 0.05 k) / (max - min) over codes of x - min. Fills entries
// first..36 with the least-squares fit of each candidate's codes.
inline constexpr int kAffineCandidates = 37;
struct AffineScores {
  bool valid[kAffineCandidates];  // normal equations not singular
  float scale[kAffineCandidates];
  float offset[kAffineCandidates];  // <= 0
  float err[kAffineCandidates];     // weighted squared error
};
void score_affine_candidates(const float* x, const float* w, int nmax, float min, float max,
                             float sum_w, float sum_x, int first, AffineScores* out);

// Name of the Highway target the kernels dispatch to now (for test logs).
const char* target_name();

}  // namespace apex::quant::legacy_simd

namespace apex::quant::legacy_detail {

// Scalar reference for one block of 32 floats (defined in q_legacy.cpp); the
// vector kernels fall back to these for blocks they do not handle.
void quantize_block_q4_0_ref(const float* x, uint8_t* out);
void quantize_block_q4_1_ref(const float* x, uint8_t* out);
void quantize_block_q5_0_ref(const float* x, uint8_t* out);
void quantize_block_q5_1_ref(const float* x, uint8_t* out);
void quantize_block_q8_0_ref(const float* x, uint8_t* out);

// F16 -> F32 for one value, quieting a signalling NaN the way ggml's
// conversion does (its multiply by 2^-112 sets the quiet bit).
float fp16_to_fp32_quiet(uint16_t h);

}  // namespace apex::quant::legacy_detail
