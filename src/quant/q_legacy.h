// The classic 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
//
// Each type has: quantize_<t> (fast path, byte-identical to the reference),
// quantize_<t>_ref (scalar reference), dequantize_<t> and validate_<t>. Signatures match
// QuantizeRowsFn / DequantizeRowFn in type_table.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_q4_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q4_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q4_0(const void* src, float* dst, int64_t n);
bool validate_q4_0(const void* data, size_t nbytes);

size_t quantize_q4_1(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q4_1_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q4_1(const void* src, float* dst, int64_t n);
bool validate_q4_1(const void* data, size_t nbytes);

size_t quantize_q5_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q5_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q5_0(const void* src, float* dst, int64_t n);
bool validate_q5_0(const void* data, size_t nbytes);

size_t quantize_q5_1(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q5_1_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q5_1(const void* src, float* dst, int64_t n);
bool validate_q5_1(const void* data, size_t nbytes);

size_t quantize_q8_0(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q8_0_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q8_0(const void* src, float* dst, int64_t n);
bool validate_q8_0(const void* data, size_t nbytes);

}  // namespace apex::quant
