// Scalar conversions between float and the 16-bit float formats stored in
// GGUF files: IEEE binary16 ("F16", ggml_half, used for most block scales)
// and bfloat16 ("BF16"). Both directions round to nearest, ties to even,
// which is what ggml's conversions compute, so scales written here are the
// same bits llama.cpp writes.
#pragma once

#include <bit>
#include <cstdint>

namespace apex::quant {

namespace fp16_detail {
// v >> s rounded to nearest, ties to even (s in 1..31).
constexpr uint32_t shift_round_even(uint32_t v, uint32_t s) {
  const uint32_t q = v >> s;
  const uint32_t rem = v & ((1u << s) - 1);
  const uint32_t half = 1u << (s - 1);
  return q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
}
}  // namespace fp16_detail

// float -> binary16. NaN becomes the canonical quiet NaN 0x7E00 (with sign),
// as ggml writes it; values that round past 65504 become infinity.
constexpr uint16_t fp32_to_fp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (ax >= 0x38800000u) {  // result is a normal half (>= 2^-14)
    // Re-bias the exponent from 127 to 15 (subtract 112 << 23), then drop 13
    // mantissa bits with rounding; a carry out of the mantissa bumps the exponent.
    return static_cast<uint16_t>(sign | fp16_detail::shift_round_even(ax - 0x38000000u, 13));
  }
  // Subnormal half: count units of 2^-24. The float is m * 2^(e-150) with
  // the implicit bit in m, so the count is m >> (126 - e).
  const uint32_t e = ax >> 23;
  if (e < 101) return static_cast<uint16_t>(sign);  // below 2^-26: rounds to zero
  const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  return static_cast<uint16_t>(sign | fp16_detail::shift_round_even(m, 126 - e));
}

// binary16 -> float (exact).
constexpr float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign);
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

// float -> bfloat16: keep the top 16 bits, rounding to nearest even; NaN is
// kept NaN and made quiet (bit 6 of the result set), as ggml does.
constexpr uint16_t fp32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  const uint32_t round_bias = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + round_bias) >> 16);
}

constexpr float bf16_to_fp32(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

}  // namespace apex::quant
