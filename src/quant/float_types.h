// Plain float storage: F32 copy, IEEE half (F16) and bfloat16 (BF16), with the
// exact rounding ggml uses (round to nearest even; NaN kept quiet).
//
// Each type has: quantize_<t> (fast path, byte-identical to the reference),
// quantize_<t>_ref (scalar reference), dequantize_<t> and validate_<t>. Signatures match
// QuantizeRowsFn / DequantizeRowFn in type_table.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_f32(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_f32_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_f32(const void* src, float* dst, int64_t n);
bool validate_f32(const void* data, size_t nbytes);

size_t quantize_f16(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_f16_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_f16(const void* src, float* dst, int64_t n);
bool validate_f16(const void* data, size_t nbytes);

size_t quantize_bf16(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_bf16_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_bf16(const void* src, float* dst, int64_t n);
bool validate_bf16(const void* data, size_t nbytes);

}  // namespace apex::quant
