// Metadata values: names, integer views, printing, equality, and the tensor
// size rule shared by the reader and the writer.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <limits>

#include "gguf/gguf.h"
#include "quant/type_table.h"

namespace apex::gguf {

const char* value_type_name(ValueType t) {
  // The short names llama.cpp prints (gguf_type_name).
  switch (t) {
    case ValueType::UINT8: return "u8";
    case ValueType::INT8: return "i8";
    case ValueType::UINT16: return "u16";
    case ValueType::INT16: return "i16";
    case ValueType::UINT32: return "u32";
    case ValueType::INT32: return "i32";
    case ValueType::FLOAT32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "str";
    case ValueType::ARRAY: return "arr";
    case ValueType::UINT64: return "u64";
    case ValueType::INT64: return "i64";
    case ValueType::FLOAT64: return "f64";
  }
  return "invalid";
}

bool Value::as_int(int64_t& out) const {
  return std::visit(
      [&out](const auto& v) -> bool {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool> || !std::is_integral_v<T>) {
          return false;
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
          out = static_cast<int64_t>(v);
          return true;
        } else {
          out = static_cast<int64_t>(v);
          return true;
        }
      },
      data);
}

namespace {

void append_quoted(std::string& out, const std::string& s, size_t max_chars) {
  out += '"';
  size_t n = 0;
  for (unsigned char c : s) {
    if (n++ == max_chars) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void append_value(std::string& out, const Value& value, size_t max_items) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          append_quoted(out, v, 200);
        } else if constexpr (std::is_same_v<T, Array>) {
          out += '[';
          const size_t shown = std::min(max_items, v.elems.size());
          for (size_t i = 0; i < shown; ++i) {
            if (i > 0) out += ", ";
            append_value(out, v.elems[i], max_items);
          }
          if (shown < v.elems.size()) {
            out += fmt::format(", ... ({} {} items)", v.elems.size(), value_type_name(v.elem_type));
          }
          out += ']';
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
          out += fmt::format("{}", static_cast<int>(v));  // a number, not a character
        } else {
          out += fmt::format("{}", v);
        }
      },
      value.data);
}

}  // namespace

std::string Value::to_string(size_t max_items) const {
  std::string out;
  append_value(out, *this, max_items);
  return out;
}

bool operator==(const Array& a, const Array& b) {
  return a.elem_type == b.elem_type && a.elems == b.elems;
}

bool operator==(const Value& a, const Value& b) {
  if (a.data.index() != b.data.index()) return false;
  return std::visit(
      [&b](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b.data);
        if constexpr (std::is_floating_point_v<T>) {
          // Bit for bit: a NaN payload or a -0.0 that survived a round trip is
          // still "equal", and 0.0 vs -0.0 is not.
          return std::memcmp(&x, &y, sizeof(T)) == 0;
        } else {
          return x == y;
        }
      },
      a.data);
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

int64_t TensorInfo::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < ne.size(); ++i) n *= ne[i];
  return n;
}

Result<uint64_t> tensor_nbytes(int32_t type, std::span<const int64_t> ne) {
  const quant::TypeTraits* traits = quant::find_type(type);
  if (traits == nullptr) return make_error("unknown or retired ggml type id {}", type);
  if (ne.empty() || ne.size() > static_cast<size_t>(kMaxDims)) {
    return make_error("{} dims (must be 1..{})", ne.size(), kMaxDims);
  }
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 0) return make_error("ne[{}] = {} is negative", i, ne[i]);
  }
  // Element count must fit in int64 (ggml indexes with it).
  int64_t n = 1;
  for (int64_t d : ne) {
    if (__builtin_mul_overflow(n, d, &n)) {
      return make_error("shape {} has more than 2^63 elements", fmt::join(ne, "x"));
    }
  }
  if (ne[0] % traits->block_size != 0) {
    return make_error("ne[0] = {} is not a multiple of {}'s block size {}", ne[0], traits->name,
                      traits->block_size);
  }
  const uint64_t blocks_per_row = static_cast<uint64_t>(ne[0] / traits->block_size);
  if (blocks_per_row > std::numeric_limits<uint64_t>::max() / traits->block_bytes) {
    return make_error("a {} row of {} elements has more than 2^64 bytes", traits->name, ne[0]);
  }
  const uint64_t row = quant::row_bytes(traits->id, ne[0]);
  uint64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= static_cast<uint64_t>(ne[i]);  // <= n, no overflow
  uint64_t total = 0;
  if (__builtin_mul_overflow(row, rows, &total)) {
    return make_error("{} tensor of shape {} has more than 2^64 bytes", traits->name,
                      fmt::join(ne, "x"));
  }
  return total;
}

}  // namespace apex::gguf
