// Rounding helpers shared by the quantizers. They reproduce the exact integer
// results of ggml's reference quantizers, which the byte-identity promise
// depends on.
#pragma once

#include <bit>
#include <cstdint>

namespace apex::quant {

// Round to the nearest integer, ties to even, for |x| <= 2^22. Adding
// 1.5 * 2^23 pushes the integer part into the low mantissa bits, where the
// FPU's own round-to-nearest-even has already been applied. ggml's quantizers
// round this way, so we must too (lrintf agrees in range; this is faster and
// independent of the rounding mode being changed by a caller).
inline int nearest_int(float x) {
  const float shifted = x + 12582912.0f;  // 1.5 * 2^23
  const int32_t bits = std::bit_cast<int32_t>(shifted);
  return (bits & 0x007fffff) - 0x00400000;
}

}  // namespace apex::quant
