// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table of 16
// values (denser near zero, where most weights are). IQ4_NL has one fp16
// scale per 32 values; IQ4_XS packs eight 6-bit block scales under one fp16
// scale per 256 values (4.25 bits per weight).
//
// Same four functions per type as the other families (see type_table.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace apex::quant {

size_t quantize_iq4_nl(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq4_nl_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq4_nl(const void* src, float* dst, int64_t n);
bool validate_iq4_nl(const void* data, size_t nbytes);

size_t quantize_iq4_xs(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
size_t quantize_iq4_xs_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);
void dequantize_iq4_xs(const void* src, float* dst, int64_t n);
bool validate_iq4_xs(const void* data, size_t nbytes);

}  // namespace apex::quant
