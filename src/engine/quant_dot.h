// Dot products straight on quantized blocks, in the order of ggml's plain
// x86-64 kernels (integer sums per block, then float sums in the same
// order), so quantized models give the oracle's logits up to the last bit in
// nearly every position. One function per weight type; the activation row is
// in the weight's activation_type (Q8_0 or Q8_K).
#pragma once

#include <cstdint>

namespace apex::engine {

float dot_q8_0_q8_0(const uint8_t* w, const uint8_t* a, int64_t n);
float dot_q4_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n);
float dot_q6_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n);
float dot_q5_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n);
float dot_q3_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n);
float dot_q2_k_q8_k(const uint8_t* w, const uint8_t* a, int64_t n);
float dot_iq4_xs_q8_k(const uint8_t* w, const uint8_t* a, int64_t n);

}  // namespace apex::engine
