#include "convert/hf_values.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "quant/fp16.h"

namespace apex::convert {
namespace {

float round_to(st::DType d, double x) {
  const auto f = static_cast<float>(x);
  switch (d) {
    case st::DType::F16: return quant::fp16_to_fp32(quant::fp32_to_fp16(f));
    case st::DType::BF16: return quant::bf16_to_fp32(quant::fp32_to_bf16(f));
    default: return f;
  }
}

// The representable value `steps` places away from x (x representable in d).
float step(st::DType d, float x, int steps) {
  for (int i = 0; i < std::abs(steps); ++i) {
    const bool up = steps > 0;
    if (d == st::DType::F16 || d == st::DType::BF16) {
      const bool half = d == st::DType::F16;
      uint16_t b = half ? quant::fp32_to_fp16(x) : quant::fp32_to_bf16(x);
      const bool neg = (b & 0x8000) != 0;
      const bool zero = (b & 0x7fff) == 0;
      if (zero) {
        b = up ? 0x0001 : 0x8001;
      } else {
        b = static_cast<uint16_t>((up != neg) ? b + 1 : b - 1);
      }
      x = half ? quant::fp16_to_fp32(b) : quant::bf16_to_fp32(b);
    } else {
      x = std::nextafter(x, up ? INFINITY : -INFINITY);
    }
  }
  return x;
}

bool same_bits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

double inverse_value(ValueMap m, float y) {
  switch (m) {
    case ValueMap::kPlusOne: return static_cast<double>(y) - 1.0;
    case ValueMap::kNegExp: return std::log(-static_cast<double>(y));
    case ValueMap::kSame: break;
  }
  return y;
}

// Value-head reordering along the outer axis (units of `unit` elements) or
// within every row (`unit` 1, `rows` rows of `n_units` units).
struct Perm {
  int64_t offset = 0, head = 0;  // units before the value heads; units per head
};

Status permute(const Perm& p, const LinearAttnDims& d, int64_t n_units, int64_t unit, int64_t rows, bool to_gguf,
               const std::string& what, std::vector<float>& v) {
  if (d.k_heads <= 0 || d.v_heads <= 0 || d.v_heads % d.k_heads != 0) {
    return make_error("{}: value heads {} are not a multiple of key heads {}", what, d.v_heads, d.k_heads);
  }
  if (p.offset + d.v_heads * p.head != n_units) {
    return make_error("{}: {} channels, but {} + {} value heads x {} expected", what, n_units, p.offset, d.v_heads,
                      p.head);
  }
  const int64_t r = d.v_heads / d.k_heads;
  std::vector<float> tmp(static_cast<size_t>(n_units * unit));
  for (int64_t row = 0; row < rows; ++row) {
    float* base = v.data() + row * n_units * unit;
    std::memcpy(tmp.data(), base, tmp.size() * sizeof(float));
    for (int64_t k = 0; k < d.k_heads; ++k) {
      for (int64_t j = 0; j < r; ++j) {
        const int64_t grouped = k * r + j;         // transformers: by key head
        const int64_t tiled = j * d.k_heads + k;   // ggml: repeats the key heads
        const int64_t from = p.offset + (to_gguf ? grouped : tiled) * p.head;
        const int64_t to = p.offset + (to_gguf ? tiled : grouped) * p.head;
        std::memcpy(base + to * unit, tmp.data() + from * unit, static_cast<size_t>(p.head * unit) * sizeof(float));
      }
    }
  }
  return Status::Ok();
}

Status reorder(const NamePair& row, const LinearAttnDims& d, std::span<const int64_t> shape, bool to_gguf,
               const std::string& what, std::vector<float>& v) {
  if (row.heads == VHeads::kNone) return Status::Ok();
  if (shape.empty()) return make_error("{}: a scalar cannot hold value heads", what);
  int64_t total = 1;
  for (int64_t n : shape) total *= n;
  if (row.heads == VHeads::kInner) {
    const int64_t n = shape.back();
    return permute({0, d.v_dim}, d, n, 1, total / n, to_gguf, what, v);
  }
  const int64_t outer = shape[0];
  const int64_t unit = total / outer;
  Perm p{0, d.v_dim};
  if (row.heads == VHeads::kOuterAfterQK) p.offset = 2 * d.k_heads * d.k_dim;
  if (row.heads == VHeads::kOuterScalar) p.head = 1;
  return permute(p, d, outer, unit, 1, to_gguf, what, v);
}

}  // namespace

bool changes_values(const NamePair& row) {
  return row.value != ValueMap::kSame || row.heads != VHeads::kNone;
}

float forward_value(ValueMap m, float h, st::DType dtype) {
  switch (m) {
    case ValueMap::kPlusOne: return round_to(dtype, static_cast<double>(h) + 1.0);
    case ValueMap::kNegExp: return round_to(dtype, -std::exp(static_cast<double>(h)));
    case ValueMap::kSame: break;
  }
  return h;
}

Status hf_to_gguf_values(const NamePair& row, const LinearAttnDims& d, std::span<const int64_t> hf_shape,
                         st::DType src, const std::string& what, std::vector<float>& v) {
  if (row.value != ValueMap::kSame) {
    for (float& x : v) x = forward_value(row.value, x, src);
  }
  return reorder(row, d, hf_shape, true, what, v);
}

Status gguf_to_hf_values(const NamePair& row, const LinearAttnDims& d, std::span<const int64_t> hf_shape,
                         st::DType dst, const std::string& what, std::vector<float>& v) {
  APEX_RETURN_IF_ERROR(reorder(row, d, hf_shape, false, what, v));
  if (row.value == ValueMap::kSame) return Status::Ok();
  for (float& y : v) {
    if (row.value == ValueMap::kNegExp && !(y < 0)) {
      return make_error("{}: value {} is not negative, so it is no -exp(A_log)", what, y);
    }
    const float h0 = round_to(dst, inverse_value(row.value, y));
    float best = h0;
    for (int s : {0, -1, 1, -2, 2}) {
      const float h = step(dst, h0, s);
      if (same_bits(forward_value(row.value, h, dst), y)) {
        best = h;
        break;
      }
    }
    y = best;
  }
  return Status::Ok();
}

}  // namespace apex::convert
