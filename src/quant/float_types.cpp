// F32, F16 and BF16 rows. ggml_quantize_chunk stores them element by element
// (F16 through its round-to-nearest-even conversion, BF16 through the
// reference conversion that quiets NaNs, F32 by plain copy) and ignores the
// importance weights. The fast paths are the Highway kernels in
// q_legacy_simd.cpp, equal bit for bit to the scalar conversions in fp16.h.
#include "quant/float_types.h"

#include <algorithm>
#include <cstring>

#include "quant/fp16.h"
#include "quant/q_legacy_simd.h"

namespace apex::quant {
namespace {

size_t element_count(int64_t nrows, int64_t n_per_row) {
  return static_cast<size_t>(nrows) * static_cast<size_t>(n_per_row);
}

// Scans in chunks without early exit inside a chunk, so the compiler can
// vectorize the test; models hold billions of elements and llama.cpp validates
// all of them.
template <typename T, typename Bad>
bool none_bad(const void* data, size_t nbytes, Bad bad) {
  if (nbytes % sizeof(T) != 0) return false;
  const size_t n = nbytes / sizeof(T);
  const auto* bytes = static_cast<const uint8_t*>(data);
  constexpr size_t kChunk = 1024;
  T buf[kChunk];
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t m = std::min(kChunk, n - i);
    std::memcpy(buf, bytes + i * sizeof(T), m * sizeof(T));  // data may be unaligned
    bool any = false;
    for (size_t j = 0; j < m; ++j) any |= bad(buf[j]);
    if (any) return false;
  }
  return true;
}

}  // namespace

// F32 ---------------------------------------------------------------------------
size_t quantize_f32(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                    const float* imatrix) {
  const size_t bytes = element_count(nrows, n_per_row) * sizeof(float);
  std::memcpy(dst, src, bytes);
  return bytes;
}
size_t quantize_f32_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                        const float* imatrix) {
  return quantize_f32(src, dst, nrows, n_per_row, imatrix);
}
void dequantize_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
bool validate_f32(const void* data, size_t nbytes) {
  // Exponent all ones: infinity or NaN.
  return none_bad<uint32_t>(data, nbytes,
                            [](uint32_t u) { return (u & 0x7f800000u) == 0x7f800000u; });
}

// F16 ---------------------------------------------------------------------------
size_t quantize_f16(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                    const float* imatrix) {
  const size_t n = element_count(nrows, n_per_row);
  legacy_simd::fp32_to_fp16_row(src, static_cast<uint16_t*>(dst), static_cast<int64_t>(n));
  return n * sizeof(uint16_t);
}
size_t quantize_f16_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                        const float* imatrix) {
  const size_t n = element_count(nrows, n_per_row);
  auto* out = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = fp32_to_fp16(src[i]);
    std::memcpy(out + i * sizeof h, &h, sizeof h);
  }
  return n * sizeof(uint16_t);
}
void dequantize_f16(const void* src, float* dst, int64_t n) {
  legacy_simd::fp16_to_fp32_row(static_cast<const uint16_t*>(src), dst, n);
}
bool validate_f16(const void* data, size_t nbytes) {
  return none_bad<uint16_t>(data, nbytes, [](uint16_t h) { return (h & 0x7c00u) == 0x7c00u; });
}

// BF16 --------------------------------------------------------------------------
size_t quantize_bf16(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix) {
  const size_t n = element_count(nrows, n_per_row);
  legacy_simd::fp32_to_bf16_row(src, static_cast<uint16_t*>(dst), static_cast<int64_t>(n));
  return n * sizeof(uint16_t);
}
size_t quantize_bf16_ref(const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                         const float* imatrix) {
  const size_t n = element_count(nrows, n_per_row);
  auto* out = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t b = fp32_to_bf16(src[i]);
    std::memcpy(out + i * sizeof b, &b, sizeof b);
  }
  return n * sizeof(uint16_t);
}
void dequantize_bf16(const void* src, float* dst, int64_t n) {
  legacy_simd::bf16_to_fp32_row(static_cast<const uint16_t*>(src), dst, n);
}
bool validate_bf16(const void* data, size_t nbytes) {
  return none_bad<uint16_t>(data, nbytes, [](uint16_t b) { return (b & 0x7fffu) >= 0x7f80u; });
}

}  // namespace apex::quant
