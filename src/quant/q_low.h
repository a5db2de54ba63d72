// Very low-bit block formats with one fp16 scale per block:
//   Q1_0  128 values, 1 bit each: the sign, times the block's mean magnitude.
//   Q2_0   64 values, 2 bits each: code c stands for (c - 1) * scale, i.e.
//          -1, 0, +1, +2 times the block's largest magnitude.
// ggml takes no importance weights for either (an imatrix only changes how
// it walks rows, not the bytes).
//
// Same four functions per type as the other families (see type_table.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_q1_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q1_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q1_0(const void* src, float* dst, int64_t n);
bool validate_q1_0(const void* data, size_t nbytes);

size_t quantize_q2_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q2_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q2_0(const void* src, float* dst, int64_t n);
bool validate_q2_0(const void* data, size_t nbytes);

}  // namespace apex::quant
