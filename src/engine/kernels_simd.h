// Highway kernels of the engine (compiled per SIMD target, picked at run time):
// float dot products and dot products straight on quantized blocks.
#pragma once

#include <cstdint>

#include "engine/packed_rows.h"
#include "quant/type_id.h"

namespace apex::engine {

// Dot product of one weight row (stored type) with one activation row (its
// activation_type), n elements.
using RowDotFn = float (*)(const uint8_t* w_row, const uint8_t* a_row, int64_t n);

namespace simd {
float dot_f32(const float* a, const float* b, int64_t n);
// Both F16 (raw bits), accumulated in float.
float dot_f16(const uint16_t* a, const uint16_t* b, int64_t n);
// out[i] += a * v[i], v F16 bits.
void axpy_f16(float a, const uint16_t* v, float* out, int64_t n);
// Null when the type has no direct kernel (the caller dequantizes rows).
RowDotFn row_dot_kernel(quant::TypeId weight_type);
// SIMD row kernels (row_dot_simd.cpp), bit-identical to quant_dot.h's.
float row_dot_q8_0(const uint8_t* w, const uint8_t* a, int64_t n);
float row_dot_q4_k(const uint8_t* w, const uint8_t* a, int64_t n);
float row_dot_q6_k(const uint8_t* w, const uint8_t* a, int64_t n);
// out[r] = dot(rows[r], activation row) for r < n_rows (1..4): aq, ad,
// absums are one activation row's packed values, block scales and (Q8_K)
// bsums. Equal, bit for bit, to the row kernels of quant_dot.h.
void packed_dot_rows(PackedKind kind, int n_rows, const PackedRow* const* rows, const int16_t* aq,
                     const float* ad, const int16_t* absums, int64_t n, float* out);
}  // namespace simd

}  // namespace apex::engine
