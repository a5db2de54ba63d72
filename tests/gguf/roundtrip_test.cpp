// Files apex writes read back exactly (every value type, nested and empty
// arrays, v2 and v3, custom alignments), and llama.cpp's reader sees the
// same content in them.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "oracle_gguf.h"
#include "test_support.h"

namespace apex::gguf::testing {
namespace {

void expect_same_kvs(const std::vector<KeyValue>& got, const std::vector<KeyValue>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].key, want[i].key) << "kv #" << i;
    EXPECT_TRUE(got[i].value == want[i].value)
        << want[i].key << ": got " << got[i].value.to_string() << ", want "
        << want[i].value.to_string();
  }
}

// Reads `path` with apex and checks it holds `c` exactly.
void expect_file_holds(const std::string& path, const Content& c) {
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  const File& file = **f;
  EXPECT_EQ(file.version(), c.layout.version);
  EXPECT_EQ(file.alignment(), c.layout.alignment);
  expect_same_kvs(file.kvs(), c.layout.kvs);
  ASSERT_EQ(file.tensors().size(), c.layout.tensors.size());
  EXPECT_EQ(file.file_size(), c.layout.total_bytes());
  if (!c.layout.tensors.empty()) {
    // (A file without tensors has no data section; llama.cpp then puts its
    // start at the unpadded end of the header.)
    EXPECT_EQ(file.data_offset(), c.layout.header_bytes());
    EXPECT_EQ(file.data_offset() % file.alignment(), 0u);
  }
  for (size_t i = 0; i < c.layout.tensors.size(); ++i) {
    const TensorInfo& want = c.layout.tensors[i];
    const TensorInfo& got = file.tensors()[i];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.ne, trimmed(want.ne)) << want.name;
    EXPECT_EQ(got.type, want.type) << want.name;
    EXPECT_EQ(got.nbytes, want.nbytes) << want.name;
    EXPECT_EQ(got.offset % file.alignment(), 0u) << want.name;
    const auto bytes = file.tensor_data(got);
    ASSERT_EQ(bytes.size(), c.data[i].size()) << want.name;
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), c.data[i].begin())) << want.name;
    EXPECT_EQ(file.find_tensor(want.name), &got);
  }
}

// llama.cpp's reader agrees with the content (no nested arrays: it has none).
void expect_oracle_reads(const std::string& path, const Content& c) {
  auto o = OracleGguf::read(path);
  ASSERT_NE(o, nullptr) << "llama.cpp rejects " << path;
  EXPECT_EQ(o->version(), c.layout.version);
  EXPECT_EQ(o->alignment(), c.layout.alignment);
  EXPECT_EQ(o->data_offset(), c.layout.header_bytes());
  expect_same_kvs(o->kvs(), c.layout.kvs);
  const auto tensors = o->tensors();
  ASSERT_EQ(tensors.size(), c.layout.tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& want = c.layout.tensors[i];
    EXPECT_EQ(tensors[i].name, want.name);
    EXPECT_EQ(tensors[i].ne, padded4(want.ne));
    EXPECT_EQ(tensors[i].type, want.type);
    EXPECT_EQ(tensors[i].offset, want.offset);
    const auto bytes = o->tensor_bytes(want.name);
    ASSERT_EQ(bytes.size(), c.data[i].size());
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), c.data[i].begin())) << want.name;
  }
}

TEST(GgufRoundTrip, EveryValueTypeIncludingNestedArrays) {
  ScratchDir dir;
  Content c = rich_content(/*apex_only=*/true);
  const std::string path = dir.file("rich.gguf");
  ASSERT_TRUE(write_file(path, c.layout, c.spans()).ok());
  // write_file works on a copy; assign the same offsets here to compare.
  c.layout.assign_offsets();
  expect_file_holds(path, c);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"rich.gguf"});  // no temp left
}

TEST(GgufRoundTrip, OracleReadsWhatWeWriteV3AndV2) {
  ASSERT_TRUE(oracle_available());
  for (uint32_t version : {3u, 2u}) {
    ScratchDir dir;
    Content c = rich_content(/*apex_only=*/false);
    c.layout.version = version;
    const std::string path = dir.file("v.gguf");
    ASSERT_TRUE(write_file(path, c.layout, c.spans()).ok());
    c.layout.assign_offsets();
    expect_file_holds(path, c);
    expect_oracle_reads(path, c);
  }
}

TEST(GgufRoundTrip, CustomAlignments) {
  ASSERT_TRUE(oracle_available());
  for (uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    SCOPED_TRACE(alignment);
    ScratchDir dir;
    Content c = rich_content(false);
    c.layout.set(kAlignmentKey, alignment);
    ASSERT_EQ(c.layout.alignment, alignment);
    const std::string path = dir.file("a.gguf");
    ASSERT_TRUE(write_file(path, c.layout, c.spans()).ok());
    c.layout.assign_offsets();
    expect_file_holds(path, c);
    expect_oracle_reads(path, c);
  }
}

TEST(GgufRoundTrip, ResidentCopyHoldsTheSameBytes) {
  ScratchDir dir;
  Content c = rich_content(/*apex_only=*/true);
  const std::string path = dir.file("r.gguf");
  ASSERT_TRUE(write_file(path, c.layout, c.spans()).ok());
  c.layout.assign_offsets();
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  File& file = **f;
  const uint8_t* mapped = file.bytes().data();
  ASSERT_FALSE(file.resident());
  ASSERT_TRUE(file.make_resident());
  EXPECT_TRUE(file.resident());
  EXPECT_NE(file.bytes().data(), mapped);  // the bytes moved
  EXPECT_EQ(reinterpret_cast<uintptr_t>(file.bytes().data()) % (2u << 20), 0u);  // huge-page aligned
  const std::vector<uint8_t> on_disk = read_bytes(path);
  ASSERT_EQ(file.bytes().size(), on_disk.size());
  EXPECT_TRUE(std::equal(on_disk.begin(), on_disk.end(), file.bytes().begin()));
  for (size_t i = 0; i < c.layout.tensors.size(); ++i) {
    const auto bytes = file.tensor_data(file.tensors()[i]);
    ASSERT_EQ(bytes.size(), c.data[i].size());
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), c.data[i].begin())) << c.layout.tensors[i].name;
  }
  EXPECT_TRUE(file.make_resident());  // a second call changes nothing
}

TEST(GgufRoundTrip, ResidentCopyRefusesAFileTruncatedSinceOpen) {
  ScratchDir dir;
  Content c = rich_content(/*apex_only=*/true);
  const std::string path = dir.file("r.gguf");
  ASSERT_TRUE(write_file(path, c.layout, c.spans()).ok());
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  const uint8_t* mapped = (*f)->bytes().data();
  std::filesystem::resize_file(path, (*f)->file_size() / 2);
  EXPECT_FALSE((*f)->make_resident());
  EXPECT_FALSE((*f)->resident());
  EXPECT_EQ((*f)->bytes().data(), mapped);  // still the mapping
}

TEST(GgufRoundTrip, MetadataOnlyFile) {
  ScratchDir dir;
  Content c;
  c.layout.set("general.architecture", std::string("llama"));
  const std::string path = dir.file("meta.gguf");
  ASSERT_TRUE(write_file(path, c.layout, {}).ok());
  expect_file_holds(path, c);
  // Written padded like llama.cpp (the header is always aligned).
  EXPECT_EQ(read_bytes(path).size() % kDefaultAlignment, 0u);
}

TEST(GgufRoundTrip, Accessors) {
  ScratchDir dir;
  Content c = rich_content(true);
  const std::string path = dir.file("acc.gguf");
  ASSERT_TRUE(write_file(path, c.layout, c.spans()).ok());
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  const File& file = **f;
  EXPECT_EQ(file.path(), path);
  std::string s;
  EXPECT_TRUE(file.get_string("general.architecture", s));
  EXPECT_EQ(s, "qwen3moe");
  EXPECT_FALSE(file.get_string("t.u8", s));  // wrong type
  EXPECT_FALSE(file.get_string("missing", s));
  int64_t i = 0;
  EXPECT_TRUE(file.get_int("t.u32", i));
  EXPECT_EQ(i, 4294967295);
  EXPECT_TRUE(file.get_int("t.i64", i));
  EXPECT_EQ(i, std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(file.get_int("t.u64", i));  // does not fit int64
  EXPECT_FALSE(file.get_int("t.bool_true", i));
  EXPECT_FALSE(file.get_int("t.f32", i));
  double d = 0;
  EXPECT_TRUE(file.get_float("t.f64", d));
  EXPECT_EQ(d, 1e-300);
  EXPECT_TRUE(file.get_float("t.f32_inf", d));
  EXPECT_TRUE(std::isinf(d));
  EXPECT_FALSE(file.get_float("t.u8", d));
  ASSERT_NE(file.find("a.str"), nullptr);
  EXPECT_EQ(file.find("a.str")->value.to_string(2), R"(["<unk>", "", ... (4 str items)])");
  EXPECT_EQ(file.find("t.str_nul")->value.to_string(), R"("a\x00b")");
  EXPECT_EQ(file.find("a.i8")->value.to_string(), "[-1, 0, 127]");
  EXPECT_EQ(file.find("nope"), nullptr);
  EXPECT_EQ(file.find_tensor("nope"), nullptr);
  const TensorInfo* t = file.find_tensor("blk.0.ffn_gate_exps.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->n_elements(), 64 * 2 * 3);
  EXPECT_EQ(t->n_rows(), 6);
  EXPECT_EQ(t->nbytes, 6u * 2u * 34u);  // 6 rows of two Q8_0 blocks
  file.release(*t);  // pages dropped; data must still read back
  const auto bytes = file.tensor_data(*t);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), c.data[2].begin()));
  EXPECT_EQ(value_type_name(ValueType::FLOAT64), std::string("f64"));
}

TEST(GgufRoundTrip, LayoutSetMovesReplacedKeyToTheEnd) {
  Layout l;
  l.set("a", uint32_t{1});
  l.set("b", uint32_t{2});
  l.set("a", std::string("x"));
  ASSERT_EQ(l.kvs.size(), 2u);
  EXPECT_EQ(l.kvs[0].key, "b");
  EXPECT_EQ(l.kvs[1].key, "a");
  l.set(kAlignmentKey, uint32_t{64});
  EXPECT_EQ(l.alignment, 64u);
  l.remove(kAlignmentKey);
  EXPECT_EQ(l.alignment, kDefaultAlignment);
  l.remove("missing");
  EXPECT_EQ(l.kvs.size(), 2u);
}

TEST(GgufRoundTrip, VocabularySizedArraysParseFast) {
  // A Qwen-sized vocabulary: 151,936 tokens, scores and types.
  constexpr size_t kVocab = 151936;
  ScratchDir dir;
  Content c;
  Array tokens{ValueType::STRING, {}}, scores{ValueType::FLOAT32, {}}, types{ValueType::INT32, {}};
  for (size_t i = 0; i < kVocab; ++i) {
    tokens.elems.emplace_back(fmt::format("tok{}_\xc4\xa0x", i));
    scores.elems.emplace_back(-static_cast<float>(i));
    types.elems.emplace_back(int32_t{1});
  }
  c.layout.set("tokenizer.ggml.tokens", tokens);
  c.layout.set("tokenizer.ggml.scores", scores);
  c.layout.set("tokenizer.ggml.token_type", types);
  c.add_tensor("w", 0, {8});
  const std::string path = dir.file("vocab.gguf");
  ASSERT_TRUE(write_file(path, c.layout, c.spans()).ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto f = File::open(path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_LT(seconds, 1.0);
  RecordProperty("open_seconds", fmt::format("{:.3f}", seconds));
  const Array* got = (*f)->find("tokenizer.ggml.tokens")->value.get_if<Array>();
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->elems.size(), kVocab);
  EXPECT_EQ(*got->elems[151935].get_if<std::string>(), "tok151935_\xc4\xa0x");
}

TEST(GgufRoundTrip, MultiGigabyteFileOpensWithoutReadingData) {
  // A sparse 6 GiB file: the header is real, the data is a hole. Opening
  // must only touch the header.
  ScratchDir dir;
  Layout l;
  l.set("general.architecture", std::string("llama"));
  TensorInfo t;
  t.name = "big";
  t.type = 0;
  t.ne = {1 << 20, 1536};  // 6 GiB of F32
  l.tensors.push_back(t);
  auto header = serialize_header(l);
  ASSERT_TRUE(header.ok()) << header.message();
  const std::string path = dir.file("big.gguf");
  write_bytes(path, *header);
  std::filesystem::resize_file(path, l.total_bytes());
  const auto t0 = std::chrono::steady_clock::now();
  auto f = File::open(path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_LT(seconds, 0.25);
  const TensorInfo& big = (*f)->tensors()[0];
  EXPECT_EQ(big.nbytes, uint64_t{6} << 30);
  const auto span = (*f)->tensor_data(big);
  EXPECT_EQ(span.size(), big.nbytes);
  EXPECT_EQ(span[span.size() - 1], 0);  // a hole reads as zeros
  (*f)->release(big);
}

}  // namespace
}  // namespace apex::gguf::testing
