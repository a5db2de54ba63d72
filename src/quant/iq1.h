// IQ1_S and IQ1_M: about 1.56 and 1.75 bits per weight. Groups of 8 weights
// are one of 2048 points of {-1, 0, +1}^8 (iq1_grids.h), shifted by +-1/8
// and scaled by a 3-bit block scale times one fp16 super-block scale.
// IQ1_S: one block scale and one shift sign per 32 weights, fp16 scale
// stored plainly. IQ1_M: one block scale per 16 weights and one shift sign
// per 8, with the fp16 super-scale split into the top nibbles of the four
// 16-bit scale words.
//
// Same four functions per type as the other families (see type_table.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_iq1_s(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq1_s_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq1_s(const void* src, float* dst, int64_t n);
bool validate_iq1_s(const void* data, size_t nbytes);

size_t quantize_iq1_m(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq1_m_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq1_m(const void* src, float* dst, int64_t n);
bool validate_iq1_m(const void* data, size_t nbytes);

}  // namespace apex::quant
