// K-quants: 256-element super-blocks with quantized sub-block scales:
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
//
// Each type has: quantize_<t> (fast path, byte-identical to the reference),
// quantize_<t>_ref (scalar reference), dequantize_<t> and validate_<t>. Signatures match
// QuantizeRowsFn / DequantizeRowFn in type_table.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_q2_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q2_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q2_k(const void* src, float* dst, int64_t n);
bool validate_q2_k(const void* data, size_t nbytes);

size_t quantize_q3_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q3_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q3_k(const void* src, float* dst, int64_t n);
bool validate_q3_k(const void* data, size_t nbytes);

size_t quantize_q4_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q4_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q4_k(const void* src, float* dst, int64_t n);
bool validate_q4_k(const void* data, size_t nbytes);

size_t quantize_q5_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q5_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q5_k(const void* src, float* dst, int64_t n);
bool validate_q5_k(const void* data, size_t nbytes);

size_t quantize_q6_k(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_q6_k_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_q6_k(const void* src, float* dst, int64_t n);
bool validate_q6_k(const void* data, size_t nbytes);

}  // namespace apex::quant
