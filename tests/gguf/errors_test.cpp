// Hand-crafted bad files: each must fail to open with one line that names
// the file, the byte offset of the bad field and the field, and llama.cpp's
// reader must reject the same file (or accept it, where apex deliberately
// differs; each such case says why). Nothing may crash or allocate what the
// file claims (run under ASan in the sanitizer build).
#include <gtest/gtest.h>

#include "oracle_gguf.h"
#include "test_support.h"

namespace apex::gguf::testing {
namespace {

enum class Oracle { kRejects, kAccepts };

class GgufErrors : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(oracle_available()); }

  // Writes `b` and expects open() to fail at `offset` with every word in
  // `words` in the message.
  void expect_rejected(const std::string& name, const Bytes& b, uint64_t offset,
                       std::vector<std::string> words, Oracle oracle = Oracle::kRejects) {
    SCOPED_TRACE(name);
    const std::string path = dir_.file(name + ".gguf");
    write_bytes(path, b.b);
    auto f = File::open(path);
    ASSERT_FALSE(f.ok()) << "opened " << name;
    const std::string& msg = f.message();
    const std::string prefix = fmt::format("{}: offset {}: ", path, offset);
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg << "\nexpected prefix: " << prefix;
    for (const std::string& w : words) EXPECT_NE(msg.find(w), std::string::npos) << msg << "\nmissing: " << w;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    const bool oracle_rejects = OracleGguf::read(path) == nullptr;
    EXPECT_EQ(oracle_rejects, oracle == Oracle::kRejects) << "llama.cpp disagrees on " << name;
  }

  // Writes `b` and expects both readers to accept it.
  std::unique_ptr<File> expect_accepted(const std::string& name, const Bytes& b,
                                        Oracle oracle = Oracle::kAccepts) {
    const std::string path = dir_.file(name + ".gguf");
    write_bytes(path, b.b);
    auto f = File::open(path);
    EXPECT_TRUE(f.ok()) << f.message();
    EXPECT_EQ(OracleGguf::read(path) != nullptr, oracle == Oracle::kAccepts) << name;
    return f.ok() ? std::move(*f) : nullptr;
  }

  ScratchDir dir_;
};

constexpr uint64_t kAfterCounts = 24;  // magic, version, two u64 counts

TEST_F(GgufErrors, Magic) {
  expect_rejected("empty", Bytes{}, 0, {"magic", "truncated", "0-byte file"});
  expect_rejected("short", Bytes().raw("GG"), 0, {"magic", "truncated"});
  expect_rejected("bad_magic", Bytes().raw("GGUX").u32(3).u64(0).u64(0), 0,
                  {"magic", "not a GGUF file", "47 47 55 58"});
}

TEST_F(GgufErrors, Version) {
  expect_rejected("v1", Bytes::header(0, 0, 1), 4, {"version", "v1"});
  expect_rejected("v0", Bytes::header(0, 0, 0), 4, {"version", "unsupported version 0"});
  expect_rejected("v4", Bytes::header(0, 0, 4), 4, {"version", "unsupported version 4"});
  expect_rejected("swapped", Bytes::header(0, 0, 0x03000000), 4, {"version", "big-endian"});
  expect_rejected("no_version", Bytes().u32(kMagic).u8(3), 4, {"version", "truncated"});
}

TEST_F(GgufErrors, Counts) {
  expect_rejected("no_counts", Bytes().u32(kMagic).u32(3).u32(0), 8, {"tensor count", "truncated"});
  expect_rejected("no_kv_count", Bytes().u32(kMagic).u32(3).u64(0), 16, {"kv count", "truncated"});
  expect_rejected("kv_count_huge", Bytes::header(0, uint64_t{1} << 63).zeros(64), 16,
                  {"kv count", "9223372036854775808"});
  expect_rejected("kv_count_max", Bytes::header(0, ~uint64_t{0}), 16, {"kv count"});
  expect_rejected("tensor_count_huge", Bytes::header(uint64_t{1} << 62, 0).zeros(64), 8,
                  {"tensor count", "4611686018427387904"});
  // Plausible counts in a file that ends early.
  expect_rejected("kv_missing", Bytes::header(0, 3).zeros(20), 16, {"kv count"});
  expect_rejected("tensor_missing", Bytes::header(2, 0).zeros(30), 8, {"tensor count"});
}

TEST_F(GgufErrors, Strings) {
  expect_rejected("key_len_2p63", Bytes::header(0, 1).u64(uint64_t{1} << 63).zeros(64),
                  kAfterCounts, {"key #0", "string length 9223372036854775808", "exceeds"});
  expect_rejected("key_past_end", Bytes::header(0, 1).u64(100).raw("general.name"),
                  kAfterCounts, {"key #0", "runs past the end"});
  const uint64_t value_at = kAfterCounts + 8 + 1 + 4;
  expect_rejected("str_2p40", Bytes::header(0, 1).str("k").u32(8).u64(uint64_t{1} << 40).zeros(64),
                  value_at, {"key 'k'", "string length 1099511627776 exceeds"});
  expect_rejected("str_past_end", Bytes::header(0, 1).str("k").u32(8).u64(1000).raw("abc"),
                  value_at, {"key 'k'", "runs past the end", "3 bytes left"});
  expect_rejected("str_len_cut", Bytes::header(0, 1).str("k").u32(8).u32(5), value_at,
                  {"key 'k'", "truncated"});
  expect_rejected("scalar_cut", Bytes::header(0, 1).str("k").u32(10).u32(5), value_at,
                  {"key 'k'", "truncated", "needs 8 bytes"});
}

TEST_F(GgufErrors, Arrays) {
  const uint64_t type_at = kAfterCounts + 8 + 1 + 4;  // element type
  const uint64_t count_at = type_at + 4;
  auto array_header = [](uint32_t elem_type, uint64_t n) {
    return Bytes::header(0, 1).str("k").u32(9).u32(elem_type).u64(n);
  };
  expect_rejected("u8_2p60", array_header(0, uint64_t{1} << 60).zeros(64), count_at,
                  {"key 'k' array length", "1152921504606846976 elements exceed the limit"});
  expect_rejected("str_2p60", array_header(8, uint64_t{1} << 60).zeros(64), count_at,
                  {"key 'k' array length", "exceed"});
  expect_rejected("u64_past_end", array_header(10, 1u << 29).zeros(64), count_at,
                  {"key 'k' array length", "need at least 8 bytes each", "only 64 bytes left"});
  expect_rejected("str_past_end", array_header(8, 1000).zeros(64), count_at,
                  {"array length", "need at least 8 bytes each"});
  expect_rejected("elem_type", array_header(99, 0).zeros(16), type_at,
                  {"key 'k' array type", "invalid element type 99"});
  // A string element whose length runs out: the message names the element.
  expect_rejected("str_elem", array_header(8, 2).str("ok").u64(50).raw("short"), count_at + 8 + 10,
                  {"key 'k' element [1]", "runs past the end"});
  // llama.cpp's own limit is 2^30 elements; apex also caps the total number
  // of metadata items at 2^24 so a file cannot make it build 40 bytes of
  // Value per byte of input. llama.cpp accepts this file.
  expect_rejected("items_budget", array_header(0, kMaxMetadataItems).zeros(kMaxMetadataItems),
                  count_at, {"metadata items"}, Oracle::kAccepts);
}

TEST_F(GgufErrors, NestedArrays) {
  // Arrays of arrays are in the spec and apex reads them (llama.cpp does
  // not); nesting depth is bounded so a file cannot exhaust the stack.
  Bytes ok = Bytes::header(0, 1).str("k").u32(9).u32(9).u64(1).u32(4).u64(2).u32(7).u32(8);
  auto f = expect_accepted("nested_ok", ok, Oracle::kRejects);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->find("k")->value.to_string(), "[[7, 8]]");

  Bytes bomb = Bytes::header(0, 1).str("k").u32(9);
  for (int i = 0; i < 100; ++i) bomb.u32(9).u64(1);
  bomb.u32(0).u64(0);
  const uint64_t depth8_at = kAfterCounts + 9 + 4 + 12 * kMaxArrayDepth;
  expect_rejected("nesting_bomb", bomb, depth8_at,
                  {"key 'k' element [0][0][0][0][0][0][0][0]", "nested more than 8 deep"});
}

TEST_F(GgufErrors, Keys) {
  expect_rejected("type_13", Bytes::header(0, 1).str("k").u32(13).zeros(16), kAfterCounts + 9,
                  {"key 'k' type", "invalid value type 13"});
  expect_rejected("empty_key", Bytes::header(0, 1).str("").u32(4).u32(7).zeros(16), kAfterCounts,
                  {"key #0", "empty key"});
  const uint64_t second_key = kAfterCounts + 9 + 4 + 4;
  expect_rejected("dup_key",
                  Bytes::header(0, 2).str("a").u32(4).u32(1).str("a").u32(4).u32(2).zeros(16),
                  second_key, {"key #1", "duplicate key 'a'"});
  // Control characters from the file are escaped: still one line.
  expect_rejected("dup_key_newline",
                  Bytes::header(0, 2).str("a\n").u32(4).u32(1).str("a\n").u32(4).u32(2).zeros(16),
                  second_key + 1, {"duplicate key 'a\\x0a'"});
  expect_rejected("type_cut", Bytes::header(0, 1).str("kkkkk").u8(4), kAfterCounts + 13,
                  {"key 'kkkkk' type", "truncated"});
}

TEST_F(GgufErrors, Alignment) {
  auto with_alignment = [](auto tagged) {
    Bytes b = Bytes::header(0, 1).str(kAlignmentKey);
    tagged(b);
    return b.zeros(16);
  };
  expect_rejected("align_u64", with_alignment([](Bytes& b) { b.u32(10).u64(64); }), kAfterCounts,
                  {"general.alignment", "must be of type u32, not u64"});
  expect_rejected("align_0", with_alignment([](Bytes& b) { b.u32(4).u32(0); }), kAfterCounts,
                  {"general.alignment", "0 is not a power of two"});
  expect_rejected("align_48", with_alignment([](Bytes& b) { b.u32(4).u32(48); }), kAfterCounts,
                  {"general.alignment", "48 is not a power of two"});
}

constexpr uint64_t kTensorT = kAfterCounts + 8 + 1;  // after the name "t"

TEST_F(GgufErrors, TensorInfos) {
  expect_rejected("name_64", Bytes::header(1, 0).tensor(std::string(64, 'x'), {32}, 0, 0).pad_to(32).zeros(128),
                  kAfterCounts, {"tensor #0 name", "64 bytes, longer than ggml's limit of 63"});
  auto ok63 = expect_accepted(
      "name_63", Bytes::header(1, 0).tensor(std::string(63, 'x'), {32}, 0, 0).pad_to(32).zeros(128));
  ASSERT_NE(ok63, nullptr);

  expect_rejected("dup_name",
                  Bytes::header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad_to(32).zeros(64),
                  kAfterCounts + 33, {"tensor #1 name", "duplicate tensor name 'a' (also tensor #0)"});
  expect_rejected("dims_5", Bytes::header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad_to(32).zeros(64),
                  kTensorT, {"tensor 't' n_dims", "5 dims"});
  expect_rejected("dims_cut", Bytes::header(1, 0).str("t").u32(2).i64(8).zeros(4), kTensorT + 12,
                  {"tensor 't' ne[1]", "truncated"});
  expect_rejected("negative_dim", Bytes::header(1, 0).tensor("t", {8, -1}, 0, 0).pad_to(32).zeros(64),
                  kTensorT + 12, {"tensor 't' ne[1]", "-1 is negative"});
  expect_rejected("row_not_multiple", Bytes::header(1, 0).tensor("t", {100}, 12, 0).pad_to(32).zeros(512),
                  kTensorT + 12, {"tensor 't' type/shape", "ne[0] = 100 is not a multiple of Q4_K's block size 256"});
  expect_rejected("elements_overflow",
                  Bytes::header(1, 0).tensor("t", {int64_t{1} << 33, (int64_t{1} << 31) + 1}, 0, 0).pad_to(32),
                  kTensorT + 20, {"tensor 't' type/shape", "more than 2^63 elements"});
  // llama.cpp only checks the element count when the (wrapped) product is
  // positive, so 2^32 x 2^32 = 2^64, which wraps to 0, slips through there
  // as an empty tensor. apex rejects it.
  expect_rejected("elements_wrap_to_zero",
                  Bytes::header(1, 0).tensor("t", {int64_t{1} << 32, int64_t{1} << 32}, 0, 0).pad_to(32),
                  kTensorT + 20, {"tensor 't' type/shape", "more than 2^63 elements"}, Oracle::kAccepts);
  expect_rejected("bytes_overflow", Bytes::header(1, 0).tensor("t", {int64_t{3} << 60}, 28, 0).pad_to(32),
                  kTensorT + 12, {"tensor 't' type/shape", "more than 2^64 bytes"});
  for (int32_t type : {4, 5, 31, 36, 43, 1000, -1}) {
    expect_rejected(fmt::format("type_{}", type),
                    Bytes::header(1, 0).tensor("t", {256}, type, 0).pad_to(32).zeros(2048), kTensorT + 12,
                    {"tensor 't' type/shape", fmt::format("unknown or retired ggml type id {}", type)});
  }
  expect_rejected("offset_cut", Bytes::header(1, 0).str("t").u32(1).i64(8).i32(0).u32(0), kTensorT + 16,
                  {"tensor 't' offset", "truncated"});
}

TEST_F(GgufErrors, TensorData) {
  const uint64_t offset_field = kTensorT + 16;
  expect_rejected("misaligned", Bytes::header(1, 0).tensor("t", {8}, 0, 16).pad_to(32).zeros(64),
                  offset_field, {"tensor 't' offset", "16 is not a multiple of the alignment 32"});
  expect_rejected("past_end", Bytes::header(1, 0).tensor("t", {8}, 0, uint64_t{1} << 40).pad_to(32).zeros(32),
                  offset_field, {"tensor 't' offset", "run past the end of the file"});
  expect_rejected("offset_max", Bytes::header(1, 0).tensor("t", {8}, 0, ~uint64_t{31}).pad_to(32).zeros(32),
                  offset_field, {"tensor 't' offset", "past the end"});
  expect_rejected("data_cut", Bytes::header(1, 0).tensor("t", {16}, 0, 0).pad_to(32).zeros(10),
                  offset_field, {"tensor 't' offset", "64 bytes at data offset 0"});
  // Two 64-byte tensors, the second starting inside the first.
  expect_rejected("overlap",
                  Bytes::header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad_to(32).zeros(128),
                  kAfterCounts + 33 + 33 - 8, {"tensor 'b' offset", "overlaps tensor 'a'"});
  // The header ends, but the padding up to the data section does not fit.
  Bytes no_pad = Bytes::header(1, 0).tensor("t", {0}, 0, 0);
  const uint64_t header_end = no_pad.size();
  expect_rejected("padding_cut", no_pad, header_end, {"data section", "padding"});
}

TEST_F(GgufErrors, NotAFile) {
  auto missing = File::open(dir_.file("missing.gguf"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find(dir_.file("missing.gguf") + ": cannot open"), std::string::npos);
  auto directory = File::open(dir_.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.message().find("not a regular file"), std::string::npos);
}

// Where apex accepts what llama.cpp accepts, with the same reading.
TEST_F(GgufErrors, EdgeCasesBothAccept) {
  // Zero-sized dims (upstream allows them: an empty tensor) and a 0-dim
  // tensor (a scalar: ne = [1]).
  auto f = expect_accepted("zero_dims", Bytes::header(3, 0)
                                            .tensor("z", {0, 4}, 0, 0)
                                            .tensor("s", {}, 0, 0)
                                            .tensor("w", {8}, 0, 32)
                                            .pad_to(32)
                                            .zeros(64));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->tensors()[0].nbytes, 0u);
  EXPECT_EQ(f->tensors()[1].ne, std::vector<int64_t>{1});
  EXPECT_EQ(f->tensors()[1].nbytes, 4u);
  EXPECT_EQ(f->tensor_data(f->tensors()[0]).size(), 0u);
  // Any non-zero byte is a true bool, as upstream.
  auto b = expect_accepted("bool_2", Bytes::header(0, 1).str("k").u32(7).u8(2));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->find("k")->value == Value(true));
}

TEST_F(GgufErrors, OutOfOrderOffsetsAreAcceptedByApexOnly) {
  // llama.cpp requires each tensor right after the previous one; apex only
  // requires aligned, in-bounds, non-overlapping data (what it needs to read
  // safely), so it also reads files other writers lay out differently.
  auto f = expect_accepted("reordered",
                           Bytes::header(2, 0).tensor("a", {16}, 0, 64).tensor("b", {16}, 0, 0).pad_to(32).zeros(128),
                           Oracle::kRejects);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->find_tensor("a")->offset, 64u);
}

// Every prefix of a valid file that cuts into the header or any tensor's
// data is rejected by both readers.
TEST_F(GgufErrors, EveryTruncationIsRejected) {
  Content c = rich_content(false);
  const std::string full = dir_.file("full.gguf");
  ASSERT_TRUE(write_file(full, c.layout, c.spans()).ok());
  const std::vector<uint8_t> bytes = read_bytes(full);
  c.layout.assign_offsets();
  const TensorInfo& last = c.layout.tensors.back();
  const uint64_t data_end = c.layout.header_bytes() + last.offset + last.nbytes;
  const std::string path = dir_.file("cut.gguf");
  int oracle_accepted = 0;
  for (uint64_t len = 0; len < data_end; ++len) {
    write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(len)));
    auto f = File::open(path);
    ASSERT_FALSE(f.ok()) << "prefix of " << len << " bytes opened";
    ASSERT_EQ(f.message().rfind(path + ": offset ", 0), 0u) << f.message();
    ASSERT_EQ(f.message().find('\n'), std::string::npos);
    if (OracleGguf::read(path) != nullptr) ++oracle_accepted;
  }
  EXPECT_EQ(oracle_accepted, 0);
  // The last tensor's padding is not needed to read it.
  write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(data_end)));
  EXPECT_TRUE(File::open(path).ok());
}

}  // namespace
}  // namespace apex::gguf::testing
