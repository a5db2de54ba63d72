// Highway kernels behind TQ1_0 and TQ2_0. Internal to src/quant: callers use
// quantize_tq1_0 / quantize_tq2_0 (ternary.h), which route here.
//
// Each kernel does, per value, the scalar reference's float operations in its
// order (the block's largest magnitude, its reciprocal, one multiply per
// value) and turns lround(x * id) + 1 into comparisons, which are exact, so
// the bytes equal the reference's on every Highway target and for every
// input, NaN and infinity included.
#pragma once

#include <cstdint>

namespace apex::quant::ternary_simd {

// `nblocks` blocks of 256 floats into packed TQ1_0 (54 bytes) / TQ2_0 (66
// bytes) blocks.
void quantize_tq1_0_blocks(const float* src, uint8_t* dst, int64_t nblocks);
void quantize_tq2_0_blocks(const float* src, uint8_t* dst, int64_t nblocks);

}  // namespace apex::quant::ternary_simd
