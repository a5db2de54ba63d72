// IQ3_XXS and IQ3_S: 3-bit "grid" quantization. Each group of 4 weights is an
// index into a fixed grid of 4-D points with 8 levels per coordinate
// (iq3_grids.h), signs are stored separately, and each 32-value block has a
// 4-bit scale under one fp16 scale per 256 values.
//   IQ3_XXS (3.06 bpw): 256-point grid, 8-bit indices; 7 sign bits per 8
//     values (the eighth is implied: the count of negatives is kept even).
//   IQ3_S (3.44 bpw): 512-point grid, 9-bit indices; all 8 sign bits.
//
// Same four functions per type as the other families (see type_table.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_iq3_xxs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq3_xxs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq3_xxs(const void* src, float* dst, int64_t n);
bool validate_iq3_xxs(const void* data, size_t nbytes);

size_t quantize_iq3_s(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq3_s_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq3_s(const void* src, float* dst, int64_t n);
bool validate_iq3_s(const void* data, size_t nbytes);

}  // namespace apex::quant
