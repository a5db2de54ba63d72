// Helpers for the GGUF tests: scratch directories, a byte builder for
// hand-crafted (hostile) files, and rich sample content.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace apex::gguf::testing {

// A fresh directory per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path(::testing::TempDir()) /
            fmt::format("apex_gguf_{}_{}", getpid(), counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::filesystem::path path_;
};

// Little-endian bytes, written field by field; size() is the offset of the
// next field, which the error tests use to predict reported offsets.
struct Bytes {
  std::vector<uint8_t> b;
  uint64_t size() const { return b.size(); }
  template <typename T>
  Bytes& pod(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return pod(v); }
  Bytes& u32(uint32_t v) { return pod(v); }
  Bytes& i32(int32_t v) { return pod(v); }
  Bytes& u64(uint64_t v) { return pod(v); }
  Bytes& i64(int64_t v) { return pod(v); }
  Bytes& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& str(std::string_view s) { return u64(s.size()).raw(s); }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  Bytes& pad_to(uint64_t a) { return zeros(static_cast<size_t>((a - size() % a) % a)); }
  // magic, version, tensor count, kv count
  static Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    Bytes h;
    h.u32(kMagic).u32(version).u64(n_tensors).u64(n_kv);
    return h;
  }
  // A tensor info: name, n_dims, ne..., type, offset.
  Bytes& tensor(std::string_view name, std::vector<int64_t> ne, int32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) i64(d);
    return i32(type).u64(offset);
  }
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  // Unlink first: truncating an existing file makes ext4 flush it on close
  // (auto_da_alloc), which turns thousands of small rewrites into seconds.
  std::filesystem::remove(path);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& x : out) x = static_cast<uint8_t>(rng());
  return out;
}

// A layout and the bytes of each tensor.
struct Content {
  Layout layout;
  std::vector<std::vector<uint8_t>> data;

  std::vector<std::span<const uint8_t>> spans() const {
    return std::vector<std::span<const uint8_t>>(data.begin(), data.end());
  }
  void add_tensor(const std::string& name, int32_t type, std::vector<int64_t> ne) {
    TensorInfo t;
    t.name = name;
    t.type = type;
    t.ne = std::move(ne);
    auto n = tensor_nbytes(t.type, t.ne);
    EXPECT_TRUE(n.ok()) << n.message();
    t.nbytes = n.ok() ? *n : 0;
    data.push_back(random_bytes(static_cast<size_t>(t.nbytes), static_cast<uint32_t>(data.size() + 1)));
    layout.tensors.push_back(std::move(t));
  }
};

template <typename T>
Array array_of(ValueType t, std::vector<T> xs) {
  Array a;
  a.elem_type = t;
  for (auto&& x : xs) a.elems.emplace_back(T(x));  // (T(x): vector<bool> proxies)
  return a;
}

// Every scalar type (with edge values), strings, and arrays of every
// non-array type including empty ones: what both llama.cpp and apex can
// write. With `apex_only`, also what llama.cpp's API cannot express: arrays
// of arrays and a string with an embedded NUL.
inline Content rich_content(bool apex_only) {
  Content c;
  Layout& l = c.layout;
  l.set("general.architecture", std::string("qwen3moe"));
  l.set("general.name", std::string("r\xc3\xa9sum\xc3\xa9 \xe2\x9c\x93"));  // UTF-8
  l.set("t.u8", uint8_t{255});
  l.set("t.i8", int8_t{-128});
  l.set("t.u16", uint16_t{65535});
  l.set("t.i16", int16_t{-32768});
  l.set("t.u32", uint32_t{4294967295u});
  l.set("t.i32", int32_t{std::numeric_limits<int32_t>::min()});
  l.set("t.f32", -0.0f);
  l.set("t.f32_inf", std::numeric_limits<float>::infinity());
  l.set("t.f32_denorm", std::numeric_limits<float>::denorm_min());
  l.set("t.bool_true", true);
  l.set("t.bool_false", false);
  l.set("t.str_empty", std::string());
  l.set("t.u64", std::numeric_limits<uint64_t>::max());
  l.set("t.i64", std::numeric_limits<int64_t>::min());
  l.set("t.f64", 1e-300);
  l.set("a.u8", array_of<uint8_t>(ValueType::UINT8, {0, 1, 255}));
  l.set("a.i8", array_of<int8_t>(ValueType::INT8, {-1, 0, 127}));
  l.set("a.u16", array_of<uint16_t>(ValueType::UINT16, {1, 65535}));
  l.set("a.i16", array_of<int16_t>(ValueType::INT16, {-2, 2}));
  l.set("a.u32", array_of<uint32_t>(ValueType::UINT32, {7, 8, 9}));
  l.set("a.i32", array_of<int32_t>(ValueType::INT32, {-7, 8}));
  l.set("a.f32", array_of<float>(ValueType::FLOAT32, {0.5f, -1.25f, 3e38f}));
  l.set("a.bool", array_of<bool>(ValueType::BOOL, {true, false, true}));
  l.set("a.str", array_of<std::string>(ValueType::STRING, {"<unk>", "", "\xe2\x96\x81the", "x y"}));
  l.set("a.u64", array_of<uint64_t>(ValueType::UINT64, {0, std::numeric_limits<uint64_t>::max()}));
  l.set("a.i64", array_of<int64_t>(ValueType::INT64, {-5}));
  l.set("a.f64", array_of<double>(ValueType::FLOAT64, {3.141592653589793, -2.0}));
  for (ValueType t : {ValueType::UINT8, ValueType::INT32, ValueType::FLOAT32, ValueType::STRING,
                      ValueType::BOOL, ValueType::FLOAT64}) {
    Array empty;
    empty.elem_type = t;
    l.set(fmt::format("a.empty_{}", value_type_name(t)), empty);
  }
  if (apex_only) {
    l.set("t.str_nul", std::string("a\0b", 3));
    Array inner1 = array_of<uint32_t>(ValueType::UINT32, {1, 2, 3});
    Array inner2;
    inner2.elem_type = ValueType::UINT32;
    Array outer;
    outer.elem_type = ValueType::ARRAY;
    outer.elems.emplace_back(inner1);
    outer.elems.emplace_back(inner2);
    l.set("n.u32", outer);
    Array strs;
    strs.elem_type = ValueType::ARRAY;
    strs.elems.emplace_back(array_of<std::string>(ValueType::STRING, {"a", ""}));
    Array deep;
    deep.elem_type = ValueType::ARRAY;
    deep.elems.emplace_back(strs);
    deep.elems.emplace_back(Array{ValueType::ARRAY, {}});
    l.set("n.deep", deep);
    Array empty_outer;
    empty_outer.elem_type = ValueType::ARRAY;
    l.set("n.empty", empty_outer);
  }
  c.add_tensor("token_embd.weight", 12, {256, 3});           // Q4_K
  c.add_tensor("blk.0.attn_norm.weight", 0, {40});           // F32, 160 bytes
  c.add_tensor("blk.0.ffn_gate_exps.weight", 8, {64, 2, 3});  // Q8_0 experts
  c.add_tensor("blk.0.ffn_gate_inp.weight", 1, {32, 1});     // F16, trailing 1
  c.add_tensor("blk.0.bf16", 30, {16, 1, 2});                // BF16, inner 1 kept
  c.add_tensor("blk.0.q4_0", 2, {32, 1, 1, 1});              // all trailing 1s
  c.add_tensor("blk.0.i32", 26, {5});                        // 20 bytes
  c.add_tensor("output.weight", 14, {256, 2});               // Q6_K
  return c;
}

// What a tensor's ne looks like after a write: ggml_n_dims of it.
inline std::vector<int64_t> trimmed(std::vector<int64_t> ne) {
  while (ne.size() > 1 && ne.back() == 1) ne.pop_back();
  return ne;
}
inline std::vector<int64_t> padded4(std::vector<int64_t> ne) {
  ne.resize(4, 1);
  return ne;
}

}  // namespace apex::gguf::testing
