// Highway kernels behind MXFP4 and NVFP4. Internal to src/quant: callers use
// quantize_mxfp4 / quantize_nvfp4 (fp4.h), which route here.
//
// Scales are computed per block or group with the scalar reference's own
// functions (fp4_detail below); the per-value code search does the
// reference's float operations lane by lane, so the bytes equal the
// reference's on every Highway target and for every input, NaN and infinity
// included.
#pragma once

#include <cstdint>

namespace apex::quant::fp4_simd {

// `nblocks` blocks of 32 (MXFP4) / 64 (NVFP4) floats into packed 17- / 36-byte
// blocks.
void quantize_mxfp4_blocks(const float* src, uint8_t* dst, int64_t nblocks);
void quantize_nvfp4_blocks(const float* src, uint8_t* dst, int64_t nblocks);

}  // namespace apex::quant::fp4_simd

namespace apex::quant::fp4_detail {

// The scale steps of the scalar reference (fp4.cpp), shared with the kernels.
// Scales are halved to pair with ggml's doubled E2M1 levels.
uint8_t mxfp4_exponent(float amax);    // E8M0 byte for a block's largest magnitude
float mxfp4_half_scale(uint8_t e);     // half the E8M0 value
uint8_t nvfp4_scale_code(float amax);  // UE4M3 byte for a group's largest magnitude
float nvfp4_half_scale(uint8_t code);  // half the UE4M3 value

}  // namespace apex::quant::fp4_detail
