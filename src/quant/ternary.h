// Ternary formats (values -1, 0, +1 times one fp16 scale per 256 values),
// made for natively ternary models such as BitNet b1.58. TQ1_0 packs five
// values per byte in base 3 (1.69 bits per value); TQ2_0 stores each value
// in 2 bits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_tq1_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_tq1_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_tq1_0(const void* src, float* dst, int64_t n);
bool validate_tq1_0(const void* data, size_t nbytes);

size_t quantize_tq2_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_tq2_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_tq2_0(const void* src, float* dst, int64_t n);
bool validate_tq2_0(const void* data, size_t nbytes);

}  // namespace apex::quant
