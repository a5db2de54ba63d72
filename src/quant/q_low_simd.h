// Highway kernels behind Q1_0 and Q2_0. Internal to src/quant: callers use
// quantize_q1_0 / quantize_q2_0 (q_low.h), which route here.
//
// Each kernel computes what the scalar reference computes, with its float
// operations in its order, on every Highway target and for every input (NaN
// and infinity included): Q1_0's mean magnitude is summed in value order per
// block (blocks are interleaved, never a block's values), and Q2_0's
// roundf-then-clamp becomes exact comparisons with the rounding thresholds.
#pragma once

#include <cstdint>

namespace apex::quant::q_low_simd {

// `nblocks` blocks of 128 (Q1_0) / 64 (Q2_0) floats into packed 18-byte blocks.
void quantize_q1_0_blocks(const float* src, uint8_t* dst, int64_t nblocks);
void quantize_q2_0_blocks(const float* src, uint8_t* dst, int64_t nblocks);

}  // namespace apex::quant::q_low_simd
