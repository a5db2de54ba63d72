// apex's GGUF bytes against llama.cpp's own gguf writer and reader:
// - the same kvs and tensors built through gguf_set_* / gguf_add_tensor give
//   byte-identical files (gguf_write_to_file) and headers (gguf_get_meta_data,
//   what llama-quantize writes);
// - files llama.cpp writes read back exactly in apex;
// - on thousands of mutated files, whatever llama.cpp accepts apex accepts
//   with the same content, and nothing crashes.
#include <gtest/gtest.h>

#include "oracle_gguf.h"
#include "test_support.h"

namespace apex::gguf::testing {
namespace {

std::string first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return fmt::format("first difference at byte {}: {} vs {}", i, a[i], b[i]);
  }
  return fmt::format("sizes {} vs {}", a.size(), b.size());
}

std::unique_ptr<OracleGguf> oracle_with(const Content& c) {
  auto o = std::make_unique<OracleGguf>();
  for (const KeyValue& kv : c.layout.kvs) EXPECT_TRUE(o->set(kv.key, kv.value)) << kv.key;
  for (size_t i = 0; i < c.layout.tensors.size(); ++i) {
    const TensorInfo& t = c.layout.tensors[i];
    o->add_tensor(t.name, t.type, t.ne, c.data[i]);
  }
  return o;
}

void expect_identical_files(const Content& c) {
  ScratchDir dir;
  auto o = oracle_with(c);
  const std::string theirs = dir.file("oracle.gguf");
  const std::string ours = dir.file("apex.gguf");
  ASSERT_TRUE(o->write_to_file(theirs));
  Status s = write_file(ours, c.layout, c.spans());
  ASSERT_TRUE(s.ok()) << s.message();
  const auto a = read_bytes(ours), b = read_bytes(theirs);
  EXPECT_TRUE(a == b) << first_difference(a, b);

  Layout copy = c.layout;
  auto header = serialize_header(copy);
  ASSERT_TRUE(header.ok()) << header.message();
  const auto meta = o->meta_data();
  EXPECT_TRUE(*header == meta) << first_difference(*header, meta);
  EXPECT_EQ(c.layout.header_bytes(), meta.size());
  EXPECT_EQ(c.layout.total_bytes(), b.size());
}

TEST(GgufOracle, SameContentGivesIdenticalBytes) {
  ASSERT_TRUE(oracle_available());
  expect_identical_files(rich_content(/*apex_only=*/false));
}

TEST(GgufOracle, MetadataOnlyHeaderIsIdentical) {
  ASSERT_TRUE(oracle_available());
  Content c;
  c.layout.set("general.architecture", std::string("x"));
  expect_identical_files(c);
  expect_identical_files(Content{});  // not even a key
}

TEST(GgufOracle, SetAndRemoveOrderKeysLikeUpstream) {
  // llama-quantize copies the input's kvs and then sets
  // general.quantization_version and general.file_type: a key that existed
  // moves to the end. Layout::set must order keys the same way.
  ASSERT_TRUE(oracle_available());
  Content c;
  OracleGguf o;
  auto both = [&](const std::string& key, Value v) {
    c.layout.set(key, v);
    ASSERT_TRUE(o.set(key, v));
  };
  both("general.architecture", std::string("qwen3moe"));
  both("general.file_type", uint32_t{1});
  both("general.name", std::string("m"));
  both("qwen3moe.block_count", uint32_t{2});
  both("general.quantization_version", uint32_t{2});
  both("general.file_type", uint32_t{15});  // replaced: now last
  both("general.name", int32_t{-1});         // replaced with another type
  c.layout.remove("qwen3moe.block_count");
  o.remove("qwen3moe.block_count");
  c.layout.remove("never.there");
  o.remove("never.there");
  Layout copy = c.layout;
  auto header = serialize_header(copy);
  ASSERT_TRUE(header.ok());
  EXPECT_TRUE(*header == o.meta_data()) << first_difference(*header, o.meta_data());
}

TEST(GgufOracle, VocabularyHeaderIsIdentical) {
  ASSERT_TRUE(oracle_available());
  Content c;
  Array tokens{ValueType::STRING, {}}, merges{ValueType::STRING, {}}, types{ValueType::INT32, {}};
  for (int i = 0; i < 150000; ++i) {
    tokens.elems.emplace_back(fmt::format("\xc4\xa0t{}", i));
    merges.elems.emplace_back(fmt::format("a{} b{}", i, i % 77));
    types.elems.emplace_back(int32_t{i % 5});
  }
  c.layout.set("tokenizer.ggml.model", std::string("gpt2"));
  c.layout.set("tokenizer.ggml.tokens", tokens);
  c.layout.set("tokenizer.ggml.token_type", types);
  c.layout.set("tokenizer.ggml.merges", merges);
  c.add_tensor("token_embd.weight", 12, {256, 4});
  expect_identical_files(c);
}

TEST(GgufOracle, FilesWrittenByLlamaCppReadBack) {
  ASSERT_TRUE(oracle_available());
  ScratchDir dir;
  const Content c = rich_content(false);
  auto o = oracle_with(c);
  const std::string path = dir.file("oracle.gguf");
  ASSERT_TRUE(o->write_to_file(path));
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  const File& file = **f;
  EXPECT_EQ(file.version(), 3u);
  ASSERT_EQ(file.kvs().size(), c.layout.kvs.size());
  for (size_t i = 0; i < c.layout.kvs.size(); ++i) {
    EXPECT_EQ(file.kvs()[i].key, c.layout.kvs[i].key);
    EXPECT_TRUE(file.kvs()[i].value == c.layout.kvs[i].value)
        << c.layout.kvs[i].key << ": " << file.kvs()[i].value.to_string();
  }
  ASSERT_EQ(file.tensors().size(), c.layout.tensors.size());
  for (size_t i = 0; i < c.layout.tensors.size(); ++i) {
    const TensorInfo& t = file.tensors()[i];
    EXPECT_EQ(t.name, c.layout.tensors[i].name);
    EXPECT_EQ(t.ne, trimmed(c.layout.tensors[i].ne));
    EXPECT_EQ(t.type, c.layout.tensors[i].type);
    const auto bytes = file.tensor_data(t);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), c.data[i].begin(), c.data[i].end())) << t.name;
  }
}

// Our view of a value as llama.cpp's C API shows it: strings end at a NUL.
Value as_c_strings(const Value& v) {
  if (const std::string* s = v.get_if<std::string>()) return Value(std::string(s->c_str()));
  if (const Array* a = v.get_if<Array>()) {
    Array out{a->elem_type, {}};
    for (const Value& e : a->elems) out.elems.push_back(as_c_strings(e));
    return Value(std::move(out));
  }
  return v;
}

// Mutates a valid file many times (bit flips, interesting integers, cuts)
// and opens each variant with both readers.
TEST(GgufOracle, MutatedFilesNeverCrashAndAgreeWhenLlamaCppAccepts) {
  ASSERT_TRUE(oracle_available());
  ScratchDir dir;
  const Content c = rich_content(false);
  const std::string base = dir.file("base.gguf");
  ASSERT_TRUE(oracle_with(c)->write_to_file(base));
  const std::vector<uint8_t> original = read_bytes(base);
  Layout copy = c.layout;
  const uint64_t header_end = copy.header_bytes();

  constexpr uint64_t kInteresting[] = {0,          1,          2,          3,
                                       4,          5,          9,          12,
                                       13,         31,         32,         63,
                                       64,         255,        0x7fffffff, 0x80000000,
                                       0xffffffff, 1ull << 32, 1ull << 60, 1ull << 62,
                                       (1ull << 63) - 1, 1ull << 63, ~0ull};
  std::mt19937_64 rng(20240607);
  int oracle_accepts = 0, apex_only_accepts = 0, both_reject = 0;
  const std::string path = dir.file("m.gguf");
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> m = original;
    const int kind = static_cast<int>(rng() % 10);
    const size_t pos = static_cast<size_t>(rng() % header_end);
    if (kind < 4) {
      m[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
    } else if (kind < 6) {
      m[pos] = static_cast<uint8_t>(rng());
    } else if (kind < 8) {
      const uint64_t v = kInteresting[rng() % std::size(kInteresting)];
      std::memcpy(&m[pos], &v, std::min<size_t>(8, m.size() - pos));
    } else if (kind < 9) {
      const uint32_t v = static_cast<uint32_t>(kInteresting[rng() % std::size(kInteresting)]);
      std::memcpy(&m[pos], &v, std::min<size_t>(4, m.size() - pos));
    } else {
      m.resize(static_cast<size_t>(rng() % m.size()));
    }
    write_bytes(path, m);
    auto ours = File::open(path);
    auto theirs = OracleGguf::read(path);
    if (!ours.ok()) {
      EXPECT_EQ(ours.message().rfind(path + ": ", 0), 0u) << ours.message();
      EXPECT_EQ(ours.message().find('\n'), std::string::npos) << ours.message();
    }
    if (theirs == nullptr) {
      (ours.ok() ? apex_only_accepts : both_reject)++;
      continue;
    }
    ++oracle_accepts;
    ASSERT_TRUE(ours.ok()) << "iteration " << iter << ": llama.cpp accepts, apex says "
                           << ours.message();
    const File& f = **ours;
    EXPECT_EQ(f.version(), theirs->version());
    EXPECT_EQ(f.alignment(), theirs->alignment());
    EXPECT_EQ(f.data_offset(), theirs->data_offset()) << "iteration " << iter;
    const auto kvs = theirs->kvs();
    ASSERT_EQ(f.kvs().size(), kvs.size());
    for (size_t i = 0; i < kvs.size(); ++i) {
      EXPECT_EQ(std::string(f.kvs()[i].key.c_str()), kvs[i].key);
      EXPECT_TRUE(as_c_strings(f.kvs()[i].value) == kvs[i].value)
          << "iteration " << iter << " key " << kvs[i].key;
    }
    const auto tensors = theirs->tensors();
    ASSERT_EQ(f.tensors().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorInfo& t = f.tensors()[i];
      EXPECT_EQ(std::string(t.name.c_str()), tensors[i].name);
      EXPECT_EQ(padded4(t.ne), tensors[i].ne);
      EXPECT_EQ(t.type, tensors[i].type);
      EXPECT_EQ(t.offset, tensors[i].offset);
      EXPECT_EQ(t.nbytes, tensors[i].nbytes);
      const auto a = f.tensor_data(t);
      const auto b = theirs->tensor_bytes(tensors[i].name);
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << "iteration " << iter;
    }
  }
  // The mutations must exercise both outcomes.
  EXPECT_GT(oracle_accepts, 100);
  EXPECT_GT(both_reject, 100);
  RecordProperty("oracle_accepts", oracle_accepts);
  RecordProperty("apex_only_accepts", apex_only_accepts);
  RecordProperty("both_reject", both_reject);
  std::printf("mutations: %d accepted by both, %d by apex only, %d rejected by both\n",
              oracle_accepts, apex_only_accepts, both_reject);
}

}  // namespace
}  // namespace apex::gguf::testing
