// IQ2_XXS, IQ2_XS and IQ2_S: about 2 bits per weight. Each group of 8
// weights is stored as an index into a fixed codebook of 8-dimensional
// magnitude patterns (iq2_grids.h) plus sign bits, under small 4-bit group
// scales and one fp16 scale per 256 weights.
//   IQ2_XXS (2.06 bpw): 256-point codebook, one scale per 32 weights, 7 sign
//     bits per 8 (the eighth makes the number of negatives even).
//   IQ2_XS (2.31 bpw): 512-point codebook, one scale per 16 weights, 7 sign
//     bits per 8.
//   IQ2_S (2.56 bpw): 1024-point codebook, one scale per 16 weights, all 8
//     sign bits stored.
// IQ2_XXS and IQ2_XS need an importance matrix (as in ggml); IQ2_S weights
// by the values themselves when none is given.
//
// Same four functions per type as the other families (see type_table.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_iq2_xxs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_xxs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq2_xxs(const void* src, float* dst, int64_t n);
bool validate_iq2_xxs(const void* data, size_t nbytes);

size_t quantize_iq2_xs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_xs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq2_xs(const void* src, float* dst, int64_t n);
bool validate_iq2_xs(const void* data, size_t nbytes);

size_t quantize_iq2_s(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_s_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq2_s(const void* src, float* dst, int64_t n);
bool validate_iq2_s(const void* data, size_t nbytes);

}  // namespace apex::quant
