// 4-bit floating-point block formats: each value is an E2M1 float (sign, 2
// exponent bits, 1 mantissa bit: 0, 0.5, 1, 1.5, 2, 3, 4, 6) times a scale.
//   MXFP4  32 values, one shared power-of-two scale (E8M0 exponent byte);
//          the OCP microscaling format gpt-oss ships in.
//   NVFP4  64 values as four 16-value groups, each with its own UE4M3
//          (unsigned 4-bit exponent, 3-bit mantissa) scale byte.
// Neither takes importance weights: ggml ignores the imatrix for both.
//
// Same four functions per type as the other families (see type_table.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_mxfp4(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_mxfp4_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_mxfp4(const void* src, float* dst, int64_t n);
bool validate_mxfp4(const void* data, size_t nbytes);

size_t quantize_nvfp4(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_nvfp4_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_nvfp4(const void* src, float* dst, int64_t n);
bool validate_nvfp4(const void* data, size_t nbytes);

}  // namespace apex::quant
