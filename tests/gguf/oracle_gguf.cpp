// Declarations of the gguf_* / ggml_* entry points used here follow the
// oracle build's include/gguf.h and include/ggml.h (commit de3ff81).
#include "oracle_gguf.h"

#include <cstring>
#include <filesystem>

#include "oracle/oracle.h"
#include "util/check.h"

namespace apex::gguf::testing {
namespace {

struct GgufInitParams {  // gguf_init_params
  bool no_alloc;
  void** ctx;
};
struct GgmlInitParams {  // ggml_init_params
  size_t mem_size;
  void* mem_buffer;
  bool no_alloc;
};

template <typename Fn>
Fn api(const char* name) {
  return reinterpret_cast<Fn>(oracle::gguf_api(name));
}

#define ORACLE_FN(var, sig, name) static const auto var = api<sig>(name)

template <typename T>
Value decode(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return Value(v);
}

size_t scalar_bytes(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL: return 1;
    case ValueType::UINT16:
    case ValueType::INT16: return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32: return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64: return 8;
    default: return 0;
  }
}

Value decode_scalar(ValueType t, const uint8_t* p) {
  switch (t) {
    case ValueType::UINT8: return decode<uint8_t>(p);
    case ValueType::INT8: return decode<int8_t>(p);
    case ValueType::UINT16: return decode<uint16_t>(p);
    case ValueType::INT16: return decode<int16_t>(p);
    case ValueType::UINT32: return decode<uint32_t>(p);
    case ValueType::INT32: return decode<int32_t>(p);
    case ValueType::FLOAT32: return decode<float>(p);
    case ValueType::BOOL: return Value(p[0] != 0);
    case ValueType::UINT64: return decode<uint64_t>(p);
    case ValueType::INT64: return decode<int64_t>(p);
    case ValueType::FLOAT64: return decode<double>(p);
    default: APEX_CHECK(false, "not a scalar type"); return {};
  }
}

}  // namespace

bool oracle_available() { return oracle::available(); }

OracleGguf::OracleGguf() {
  ORACLE_FN(init_empty, void* (*)(), "gguf_init_empty");
  gguf_ = init_empty();
}

OracleGguf::~OracleGguf() {
  ORACLE_FN(gguf_free, void (*)(void*), "gguf_free");
  ORACLE_FN(ggml_free, void (*)(void*), "ggml_free");
  if (gguf_ != nullptr) gguf_free(gguf_);
  for (void* c : ggml_) ggml_free(c);
}

std::unique_ptr<OracleGguf> OracleGguf::read(const std::string& path) {
  ORACLE_FN(init_from_file, void* (*)(const char*, GgufInitParams), "gguf_init_from_file");
  ORACLE_FN(gguf_free, void (*)(void*), "gguf_free");
  ORACLE_FN(data_offset, size_t (*)(const void*), "gguf_get_data_offset");
  ORACLE_FN(n_tensors, int64_t (*)(const void*), "gguf_get_n_tensors");
  ORACLE_FN(tensor_size, size_t (*)(const void*, int64_t), "gguf_get_tensor_size");
  ORACLE_FN(alignment, size_t (*)(const void*), "gguf_get_alignment");
  // First the metadata alone. Loading the data makes ggml allocate the
  // whole claimed data section before reading it, which for a hostile
  // header is terabytes (an abort, not a rejection); upstream then fails
  // to read the blob anyway, so a section the file cannot hold is a
  // rejection here without asking.
  void* meta = init_from_file(path.c_str(), GgufInitParams{true, nullptr});
  if (meta == nullptr) return nullptr;
  unsigned __int128 need = data_offset(meta);
  const uint64_t a = alignment(meta);
  for (int64_t i = 0; i < n_tensors(meta); ++i) {
    need += (static_cast<unsigned __int128>(tensor_size(meta, i)) + a - 1) / a * a;
  }
  gguf_free(meta);
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec || need > file_size) return nullptr;

  void* ggml = nullptr;
  void* ctx = init_from_file(path.c_str(), GgufInitParams{false, &ggml});
  if (ctx == nullptr) return nullptr;
  std::unique_ptr<OracleGguf> o(new OracleGguf());
  gguf_free(o->gguf_);
  o->gguf_ = ctx;
  if (ggml != nullptr) o->ggml_.push_back(ggml);
  return o;
}

bool OracleGguf::set(const std::string& key, const Value& value) {
  const char* k = key.c_str();
  switch (value.type()) {
#define SCALAR(vt, T, fn)                                                         \
  case ValueType::vt: {                                                           \
    ORACLE_FN(setter, void (*)(void*, const char*, T), fn);                       \
    setter(gguf_, k, *value.get_if<T>());                                         \
    return true;                                                                  \
  }
    SCALAR(UINT8, uint8_t, "gguf_set_val_u8")
    SCALAR(INT8, int8_t, "gguf_set_val_i8")
    SCALAR(UINT16, uint16_t, "gguf_set_val_u16")
    SCALAR(INT16, int16_t, "gguf_set_val_i16")
    SCALAR(UINT32, uint32_t, "gguf_set_val_u32")
    SCALAR(INT32, int32_t, "gguf_set_val_i32")
    SCALAR(FLOAT32, float, "gguf_set_val_f32")
    SCALAR(BOOL, bool, "gguf_set_val_bool")
    SCALAR(UINT64, uint64_t, "gguf_set_val_u64")
    SCALAR(INT64, int64_t, "gguf_set_val_i64")
    SCALAR(FLOAT64, double, "gguf_set_val_f64")
#undef SCALAR
    case ValueType::STRING: {
      ORACLE_FN(setter, void (*)(void*, const char*, const char*), "gguf_set_val_str");
      setter(gguf_, k, value.get_if<std::string>()->c_str());
      return true;
    }
    case ValueType::ARRAY: {
      const Array& arr = *value.get_if<Array>();
      if (arr.elem_type == ValueType::ARRAY) return false;
      if (arr.elem_type == ValueType::STRING) {
        ORACLE_FN(setter, void (*)(void*, const char*, const char**, size_t), "gguf_set_arr_str");
        std::vector<const char*> ptrs;
        for (const Value& e : arr.elems) ptrs.push_back(e.get_if<std::string>()->c_str());
        setter(gguf_, k, ptrs.data(), ptrs.size());
        return true;
      }
      ORACLE_FN(setter, void (*)(void*, const char*, int, const void*, size_t),
                "gguf_set_arr_data");
      const size_t width = scalar_bytes(arr.elem_type);
      std::vector<uint8_t> raw(arr.elems.size() * width);
      for (size_t i = 0; i < arr.elems.size(); ++i) {
        std::visit(
            [&](const auto& v) {
              using T = std::decay_t<decltype(v)>;
              if constexpr (std::is_arithmetic_v<T>) std::memcpy(&raw[i * width], &v, sizeof(T));
            },
            arr.elems[i].data);
      }
      setter(gguf_, k, static_cast<int>(arr.elem_type), raw.data(), arr.elems.size());
      return true;
    }
  }
  return false;
}

void OracleGguf::remove(const std::string& key) {
  ORACLE_FN(remove_key, int64_t (*)(void*, const char*), "gguf_remove_key");
  remove_key(gguf_, key.c_str());
}

void OracleGguf::add_tensor(const std::string& name, int32_t type, const std::vector<int64_t>& ne,
                            std::span<const uint8_t> data) {
  ORACLE_FN(ggml_init, void* (*)(GgmlInitParams), "ggml_init");
  ORACLE_FN(overhead, size_t (*)(), "ggml_tensor_overhead");
  ORACLE_FN(new_tensor, void* (*)(void*, int, int, const int64_t*), "ggml_new_tensor");
  ORACLE_FN(set_name, void* (*)(void*, const char*), "ggml_set_name");
  ORACLE_FN(get_data, void* (*)(const void*), "ggml_get_data");
  ORACLE_FN(nbytes, size_t (*)(const void*), "ggml_nbytes");
  ORACLE_FN(gguf_add, void (*)(void*, const void*), "gguf_add_tensor");
  void* ctx = ggml_init(GgmlInitParams{overhead() + data.size() + 1024, nullptr, false});
  APEX_CHECK(ctx != nullptr);
  ggml_.push_back(ctx);
  void* t = new_tensor(ctx, type, static_cast<int>(ne.size()), ne.data());
  APEX_CHECK(t != nullptr);
  set_name(t, name.c_str());
  APEX_CHECK(nbytes(t) == data.size(), "tensor {}: ggml says {} bytes, test gave {}", name,
             nbytes(t), data.size());
  if (!data.empty()) std::memcpy(get_data(t), data.data(), data.size());
  gguf_add(gguf_, t);
}

std::vector<uint8_t> OracleGguf::meta_data() const {
  ORACLE_FN(meta_size, size_t (*)(const void*), "gguf_get_meta_size");
  ORACLE_FN(meta_data, void (*)(const void*, void*), "gguf_get_meta_data");
  std::vector<uint8_t> out(meta_size(gguf_));
  meta_data(gguf_, out.data());
  return out;
}

bool OracleGguf::write_to_file(const std::string& path) const {
  ORACLE_FN(write, bool (*)(const void*, const char*, bool), "gguf_write_to_file");
  return write(gguf_, path.c_str(), false);
}

uint32_t OracleGguf::version() const {
  ORACLE_FN(fn, uint32_t (*)(const void*), "gguf_get_version");
  return fn(gguf_);
}

uint64_t OracleGguf::alignment() const {
  ORACLE_FN(fn, size_t (*)(const void*), "gguf_get_alignment");
  return fn(gguf_);
}

uint64_t OracleGguf::data_offset() const {
  ORACLE_FN(fn, size_t (*)(const void*), "gguf_get_data_offset");
  return fn(gguf_);
}

std::vector<KeyValue> OracleGguf::kvs() const {
  ORACLE_FN(n_kv, int64_t (*)(const void*), "gguf_get_n_kv");
  ORACLE_FN(get_key, const char* (*)(const void*, int64_t), "gguf_get_key");
  ORACLE_FN(kv_type, int (*)(const void*, int64_t), "gguf_get_kv_type");
  ORACLE_FN(arr_type, int (*)(const void*, int64_t), "gguf_get_arr_type");
  ORACLE_FN(arr_n, size_t (*)(const void*, int64_t), "gguf_get_arr_n");
  ORACLE_FN(arr_data, const void* (*)(const void*, int64_t), "gguf_get_arr_data");
  ORACLE_FN(arr_str, const char* (*)(const void*, int64_t, size_t), "gguf_get_arr_str");
  ORACLE_FN(val_data, const void* (*)(const void*, int64_t), "gguf_get_val_data");
  ORACLE_FN(val_str, const char* (*)(const void*, int64_t), "gguf_get_val_str");
  std::vector<KeyValue> out;
  for (int64_t i = 0; i < n_kv(gguf_); ++i) {
    KeyValue kv;
    kv.key = get_key(gguf_, i);
    const auto type = static_cast<ValueType>(kv_type(gguf_, i));
    if (type == ValueType::ARRAY) {
      Array arr;
      arr.elem_type = static_cast<ValueType>(arr_type(gguf_, i));
      const size_t n = arr_n(gguf_, i);
      if (arr.elem_type == ValueType::STRING) {
        for (size_t j = 0; j < n; ++j) arr.elems.emplace_back(std::string(arr_str(gguf_, i, j)));
      } else {
        const auto* p = static_cast<const uint8_t*>(arr_data(gguf_, i));
        const size_t width = scalar_bytes(arr.elem_type);
        for (size_t j = 0; j < n; ++j) arr.elems.push_back(decode_scalar(arr.elem_type, p + j * width));
      }
      kv.value = Value(std::move(arr));
    } else if (type == ValueType::STRING) {
      kv.value = Value(std::string(val_str(gguf_, i)));
    } else {
      kv.value = decode_scalar(type, static_cast<const uint8_t*>(val_data(gguf_, i)));
    }
    out.push_back(std::move(kv));
  }
  return out;
}

std::vector<TensorInfo> OracleGguf::tensors() const {
  ORACLE_FN(n_tensors, int64_t (*)(const void*), "gguf_get_n_tensors");
  ORACLE_FN(name, const char* (*)(const void*, int64_t), "gguf_get_tensor_name");
  ORACLE_FN(offset, size_t (*)(const void*, int64_t), "gguf_get_tensor_offset");
  ORACLE_FN(type, int (*)(const void*, int64_t), "gguf_get_tensor_type");
  ORACLE_FN(size, size_t (*)(const void*, int64_t), "gguf_get_tensor_size");
  ORACLE_FN(ne, const int64_t* (*)(const void*, int64_t), "gguf_get_tensor_ne");
  std::vector<TensorInfo> out;
  for (int64_t i = 0; i < n_tensors(gguf_); ++i) {
    TensorInfo t;
    t.name = name(gguf_, i);
    t.type = type(gguf_, i);
    t.offset = offset(gguf_, i);
    t.nbytes = size(gguf_, i);
    const int64_t* d = ne(gguf_, i);
    t.ne.assign(d, d + 4);
    out.push_back(std::move(t));
  }
  return out;
}

std::span<const uint8_t> OracleGguf::tensor_bytes(const std::string& name) const {
  ORACLE_FN(get_tensor, void* (*)(void*, const char*), "ggml_get_tensor");
  ORACLE_FN(get_data, void* (*)(const void*), "ggml_get_data");
  ORACLE_FN(nbytes, size_t (*)(const void*), "ggml_nbytes");
  APEX_CHECK(!ggml_.empty(), "no tensor data loaded");
  void* t = get_tensor(ggml_.front(), name.c_str());
  APEX_CHECK(t != nullptr, "oracle has no tensor {}", name);
  return {static_cast<const uint8_t*>(get_data(t)), nbytes(t)};
}

}  // namespace apex::gguf::testing
