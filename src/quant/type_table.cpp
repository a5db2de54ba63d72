#include "quant/type_table.h"
#include "util/strings.h"

#include <array>
#include <cctype>

#include "quant/float_types.h"
#include "quant/fp4.h"
#include "quant/iq1.h"
#include "quant/iq2.h"
#include "quant/iq3.h"
#include "quant/iq4.h"
#include "quant/k_quants.h"
#include "quant/q_legacy.h"
#include "quant/q_low.h"
#include "quant/ternary.h"
#include "util/check.h"

namespace apex::quant {
namespace {

// Shorthand for a row whose format apex implements.
#define APEX_IMPL(t) quantize_##t, quantize_##t##_ref, dequantize_##t, validate_##t
// A row whose format is not implemented yet.
#define APEX_NONE nullptr, nullptr, nullptr, nullptr

// Block layouts are fixed by ggml (ggml-common.h); the byte counts below are
// the sizes of its block structs. Ids are the wire format (type_id.h).
constexpr TypeTraits kTypes[] = {
    //  id             name       block bytes  quant  imatrix  functions
    {TypeId::F32,     "F32",     1,   4,   false, false, APEX_IMPL(f32)},
    {TypeId::F16,     "F16",     1,   2,   false, false, APEX_IMPL(f16)},
    {TypeId::Q4_0,    "Q4_0",    32,  18,  true,  false, APEX_IMPL(q4_0)},
    {TypeId::Q4_1,    "Q4_1",    32,  20,  true,  false, APEX_IMPL(q4_1)},
    {TypeId::Q5_0,    "Q5_0",    32,  22,  true,  false, APEX_IMPL(q5_0)},
    {TypeId::Q5_1,    "Q5_1",    32,  24,  true,  false, APEX_IMPL(q5_1)},
    {TypeId::Q8_0,    "Q8_0",    32,  34,  true,  false, APEX_IMPL(q8_0)},
    {TypeId::Q8_1,    "Q8_1",    32,  36,  true,  false, APEX_NONE},
    {TypeId::Q2_K,    "Q2_K",    256, 84,  true,  false, APEX_IMPL(q2_k)},
    {TypeId::Q3_K,    "Q3_K",    256, 110, true,  false, APEX_IMPL(q3_k)},
    {TypeId::Q4_K,    "Q4_K",    256, 144, true,  false, APEX_IMPL(q4_k)},
    {TypeId::Q5_K,    "Q5_K",    256, 176, true,  false, APEX_IMPL(q5_k)},
    {TypeId::Q6_K,    "Q6_K",    256, 210, true,  false, APEX_IMPL(q6_k)},
    {TypeId::Q8_K,    "Q8_K",    256, 292, true,  false, APEX_NONE},
    {TypeId::IQ2_XXS, "IQ2_XXS", 256, 66,  true,  true,  APEX_IMPL(iq2_xxs)},
    {TypeId::IQ2_XS,  "IQ2_XS",  256, 74,  true,  true,  APEX_IMPL(iq2_xs)},
    {TypeId::IQ3_XXS, "IQ3_XXS", 256, 98,  true,  false, APEX_IMPL(iq3_xxs)},
    {TypeId::IQ1_S,   "IQ1_S",   256, 50,  true,  true,  APEX_IMPL(iq1_s)},
    {TypeId::IQ4_NL,  "IQ4_NL",  32,  18,  true,  false, APEX_IMPL(iq4_nl)},
    {TypeId::IQ3_S,   "IQ3_S",   256, 110, true,  false, APEX_IMPL(iq3_s)},
    {TypeId::IQ2_S,   "IQ2_S",   256, 82,  true,  false, APEX_IMPL(iq2_s)},
    {TypeId::IQ4_XS,  "IQ4_XS",  256, 136, true,  false, APEX_IMPL(iq4_xs)},
    {TypeId::I8,      "I8",      1,   1,   false, false, APEX_NONE},
    {TypeId::I16,     "I16",     1,   2,   false, false, APEX_NONE},
    {TypeId::I32,     "I32",     1,   4,   false, false, APEX_NONE},
    {TypeId::I64,     "I64",     1,   8,   false, false, APEX_NONE},
    {TypeId::F64,     "F64",     1,   8,   false, false, APEX_NONE},
    {TypeId::IQ1_M,   "IQ1_M",   256, 56,  true,  false, APEX_IMPL(iq1_m)},
    {TypeId::BF16,    "BF16",    1,   2,   false, false, APEX_IMPL(bf16)},
    {TypeId::TQ1_0,   "TQ1_0",   256, 54,  true,  false, APEX_IMPL(tq1_0)},
    {TypeId::TQ2_0,   "TQ2_0",   256, 66,  true,  false, APEX_IMPL(tq2_0)},
    {TypeId::MXFP4,   "MXFP4",   32,  17,  true,  false, APEX_IMPL(mxfp4)},
    {TypeId::NVFP4,   "NVFP4",   64,  36,  true,  false, APEX_IMPL(nvfp4)},
    {TypeId::Q1_0,    "Q1_0",    128, 18,  true,  false, APEX_IMPL(q1_0)},
    {TypeId::Q2_0,    "Q2_0",    64,  18,  true,  false, APEX_IMPL(q2_0)},
};
#undef APEX_IMPL
#undef APEX_NONE

// Compile-time proof that the table agrees with ggml's block structs
// (ggml-common.h): scales are ggml_half (2 bytes) unless noted.
constexpr const TypeTraits& row_of(TypeId id) {
  for (const auto& t : kTypes) {
    if (t.id == id) return t;
  }
  throw "type missing from kTypes";  // not constant-evaluable: a compile error
}
constexpr bool layout_is(TypeId id, int64_t block, size_t bytes) {
  return row_of(id).block_size == block && row_of(id).block_bytes == bytes;
}
constexpr int64_t kQK_K = 256;
static_assert(layout_is(TypeId::Q4_0, 32, 2 + 32 / 2));
static_assert(layout_is(TypeId::Q4_1, 32, 2 * 2 + 32 / 2));
static_assert(layout_is(TypeId::Q5_0, 32, 2 + 4 + 32 / 2));
static_assert(layout_is(TypeId::Q5_1, 32, 2 * 2 + 4 + 32 / 2));
static_assert(layout_is(TypeId::Q8_0, 32, 2 + 32));
static_assert(layout_is(TypeId::Q8_1, 32, 2 * 2 + 32));
static_assert(layout_is(TypeId::Q2_K, kQK_K, kQK_K / 16 + kQK_K / 4 + 2 * 2));
static_assert(layout_is(TypeId::Q3_K, kQK_K, kQK_K / 8 + kQK_K / 4 + 12 + 2));
static_assert(layout_is(TypeId::Q4_K, kQK_K, 2 * 2 + 12 + kQK_K / 2));
static_assert(layout_is(TypeId::Q5_K, kQK_K, 2 * 2 + 12 + kQK_K / 8 + kQK_K / 2));
static_assert(layout_is(TypeId::Q6_K, kQK_K, kQK_K / 2 + kQK_K / 4 + kQK_K / 16 + 2));
static_assert(layout_is(TypeId::Q8_K, kQK_K, 4 + kQK_K + kQK_K / 16 * 2));  // float d
static_assert(layout_is(TypeId::IQ2_XXS, kQK_K, 2 + kQK_K / 8 * 2));
static_assert(layout_is(TypeId::IQ2_XS, kQK_K, 2 + kQK_K / 8 * 2 + kQK_K / 32));
static_assert(layout_is(TypeId::IQ2_S, kQK_K, 2 + kQK_K / 4 + kQK_K / 16));
static_assert(layout_is(TypeId::IQ3_XXS, kQK_K, 2 + 3 * kQK_K / 8));
static_assert(layout_is(TypeId::IQ3_S, kQK_K, 2 + kQK_K / 4 + kQK_K / 32 + kQK_K / 8 + kQK_K / 64));
static_assert(layout_is(TypeId::IQ1_S, kQK_K, 2 + kQK_K / 8 + kQK_K / 16));
static_assert(layout_is(TypeId::IQ1_M, kQK_K, kQK_K / 8 + kQK_K / 16 + kQK_K / 32));
static_assert(layout_is(TypeId::IQ4_NL, 32, 2 + 32 / 2));
static_assert(layout_is(TypeId::IQ4_XS, kQK_K, 2 + 2 + kQK_K / 64 + kQK_K / 2));
static_assert(layout_is(TypeId::TQ1_0, kQK_K, (kQK_K - 4 * kQK_K / 64) / 5 + kQK_K / 64 + 2));
static_assert(layout_is(TypeId::TQ2_0, kQK_K, kQK_K / 4 + 2));
static_assert(layout_is(TypeId::MXFP4, 32, 1 + 32 / 2));    // E8M0 shared exponent
static_assert(layout_is(TypeId::NVFP4, 64, 64 / 16 + 64 / 2));  // 4 UE4M3 scales
static_assert(layout_is(TypeId::Q1_0, 128, 2 + 128 / 8));
static_assert(layout_is(TypeId::Q2_0, 64, 2 + 64 / 4));

constexpr auto kById = [] {
  std::array<const TypeTraits*, kTypeIdLimit> by_id{};
  for (const auto& t : kTypes) by_id[static_cast<size_t>(t.id)] = &t;
  return by_id;
}();

}  // namespace

std::span<const TypeTraits> all_types() { return kTypes; }

const TypeTraits* find_type(int32_t id) {
  if (id < 0 || id >= kTypeIdLimit) return nullptr;
  return kById[static_cast<size_t>(id)];
}

const TypeTraits& traits(TypeId id) {
  const TypeTraits* t = find_type(static_cast<int32_t>(id));
  APEX_CHECK(t != nullptr, "unknown type id {}", static_cast<int32_t>(id));
  return *t;
}

std::string type_name_list() {
  std::string out;
  for (const auto& t : kTypes) {
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out;
}

Result<TypeId> parse_type_name(std::string_view name) {
  for (const auto& t : kTypes) {
    if (iequals(name, t.name)) return t.id;
  }
  return make_error("unknown tensor type '{}' (valid: {})", name, type_name_list());
}

bool row_length_ok(TypeId id, int64_t n) {
  return n >= 0 && n % traits(id).block_size == 0;
}

size_t row_bytes(TypeId id, int64_t n) {
  const TypeTraits& t = traits(id);
  APEX_CHECK(n % t.block_size == 0, "row of {} elements is not a multiple of {}'s block size {}",
             n, t.name, t.block_size);
  return static_cast<size_t>(n / t.block_size) * t.block_bytes;
}

Result<size_t> quantize_rows(TypeId id, const float* src, void* dst, int64_t nrows,
                             int64_t n_per_row, const float* imatrix) {
  const TypeTraits& t = traits(id);
  if (t.quantize == nullptr) {
    return make_error("quantizing to {} is not implemented yet", t.name);
  }
  if (t.needs_imatrix && imatrix == nullptr) {
    return make_error("{} needs an importance matrix (--imatrix)", t.name);
  }
  if (!row_length_ok(id, n_per_row)) {
    return make_error("row length {} is not a multiple of {}'s block size {}", n_per_row,
                      t.name, t.block_size);
  }
  return t.quantize(src, dst, nrows, n_per_row, imatrix);
}

Status dequantize_row(TypeId id, const void* src, float* dst, int64_t n) {
  const TypeTraits& t = traits(id);
  if (t.dequantize == nullptr) {
    return make_error("reading {} data is not implemented yet", t.name);
  }
  if (!row_length_ok(id, n)) {
    return make_error("{} elements is not a multiple of {}'s block size {}", n, t.name,
                      t.block_size);
  }
  t.dequantize(src, dst, n);
  return {};
}

bool validate_rows(TypeId id, const void* data, size_t nbytes) {
  const TypeTraits& t = traits(id);
  if (nbytes % t.block_bytes != 0) return false;
  return t.validate == nullptr || t.validate(data, nbytes);
}

}  // namespace apex::quant
