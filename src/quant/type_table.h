// The type table: the only place a ggml tensor type is spelled out. Every
// generic routine (row sizes, quantize/dequantize dispatch, name parsing,
// per-type tests) loops over or looks up this table. Adding a type is one row
// in type_table.cpp plus its format-family file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "quant/type_id.h"
#include "util/status.h"

namespace apex::quant {

// Quantizes `nrows` rows of `n_per_row` floats each from `src` into `dst`
// (rows packed back to back). `imatrix` is null or holds n_per_row importance
// weights shared by every row, exactly as ggml_quantize_chunk takes them.
// Returns the number of bytes written.
using QuantizeRowsFn = size_t (*)(const float* src, void* dst, int64_t nrows,
                                  int64_t n_per_row, const float* imatrix);
// Dequantizes `n` elements (a multiple of the block size) from `src`.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
// True when every block's stored scales are finite: the same verdict as
// ggml_validate_row_data, which llama.cpp applies to every quantized chunk.
using ValidateRowsFn = bool (*)(const void* data, size_t nbytes);

struct TypeTraits {
  TypeId id;
  const char* name;        // ggml's spelling: "Q4_K", "IQ2_XXS", "bf16" is "BF16"
  int64_t block_size;      // elements per block
  size_t block_bytes;      // bytes per block
  bool is_quantized;       // block-quantized (not a plain float/int type)
  bool needs_imatrix;      // ggml refuses to quantize it without importance weights
  // Fastest implementation (SIMD where available); equal byte for byte to the
  // reference. Null when apex does not implement the format yet.
  QuantizeRowsFn quantize;
  // Plain scalar reference that reads like the format's description.
  QuantizeRowsFn quantize_ref;
  DequantizeRowFn dequantize;
  ValidateRowsFn validate;  // null: nothing to validate (e.g. F32)
};

// Every known (non-retired) type, in id order.
std::span<const TypeTraits> all_types();

// Null for a retired or unknown id.
const TypeTraits* find_type(int32_t id);
// For a known id; a bad id is a bug here (check fails).
const TypeTraits& traits(TypeId id);
inline const char* type_name(TypeId id) { return traits(id).name; }

// Case-insensitive lookup by ggml name ("q4_k", "IQ2_XXS", "f16").
// The error lists the valid names.
Result<TypeId> parse_type_name(std::string_view name);
// Comma-separated list of every type name, for error messages and --help.
std::string type_name_list();

// Bytes of one row of n elements; n must be a multiple of the block size.
size_t row_bytes(TypeId id, int64_t n);
bool row_length_ok(TypeId id, int64_t n);

// Quantize with the fast path; an error if the type is not implemented or
// needs an imatrix and none was given.
Result<size_t> quantize_rows(TypeId id, const float* src, void* dst,
                             int64_t nrows, int64_t n_per_row,
                             const float* imatrix);
Status dequantize_row(TypeId id, const void* src, float* dst, int64_t n);
// ggml_validate_row_data's verdict for `nbytes` of `id` data.
bool validate_rows(TypeId id, const void* data, size_t nbytes);

}  // namespace apex::quant
