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
// acc[i] += double(p[j] * v[j * stride + i]) for rows j = 0..n_rows-1 in
// order, rows with p[j] == 0 skipped; v F16 bits, each product rounded to
// float (attention's P.V as ggml's plain build sums it).
void weighted_rows_f16_double(const float* p, int64_t n_rows, const uint16_t* v, int64_t stride,
                              double* acc, int64_t n);
// Null when the type has no direct kernel (the caller dequantizes rows).
RowDotFn row_dot_kernel(quant::TypeId weight_type);
// SIMD row kernels (row_dot_simd.cpp), bit-identical to quant_dot.h's.
float row_dot_q8_0(const uint8_t* w, const uint8_t* a, int64_t n);
float row_dot_q4_k(const uint8_t* w, const uint8_t* a, int64_t n);
float row_dot_q6_k(const uint8_t* w, const uint8_t* a, int64_t n);
// One Q4_K / Q6_K weight row decoded for a panel (packed_rows.h): n int16
// values times their integer sub-block scale, in the panels' pair order
// (pair 8g + l = values 16g + l, 16g + l + 8). False (nothing written) for
// other types or a SIMD target too narrow for it.
bool decode_paired_row(quant::TypeId type, const uint8_t* w, int64_t n, int16_t* out);
// out[i] = exp_approx(x[i] - sub) (ops.h), bit for bit; out may be x.
void exp_sub(const float* x, float sub, float* out, int64_t n);
// out[i] = gate[i] / (1 + exp_approx(0 - gate[i])) * up[i], bit for bit.
void swiglu_approx(const float* gate, const float* up, float* out, int64_t n);
// P = panel_rows(): weight rows per panel (the int32 lanes of the SIMD
// target in use; fixed for the process).
int panel_rows();
// out[t][r] = dot(panel row r, activation row t) for r < nr, t < n_tok.
// Activation row t: aq[t] its int16 values, ad[t] its block scales, absums[t]
// (Q8_K only) its 16 sums per block (packed_rows.h, pack_activation_row).
void panel_gemm(PackedKind kind, const Panel& panel, int nr, int64_t n_tok, const int16_t* const* aq,
                const float* const* ad, const int16_t* const* absums, float* const* out);
}  // namespace simd

}  // namespace apex::engine
