// safetensors reader/writer. Files written by apex are checked with an
// independent reading written here (u64 length, JSON parsed by the test,
// offsets and bytes compared by hand); files the reader must accept or
// refuse are built byte by byte here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "safetensors/safetensors.h"

namespace fs = std::filesystem;
using namespace apex;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / fmt::format("apex_st_{}_{}", name, getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file from a header text and a data area, exactly as given.
std::vector<uint8_t> make_file(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8);
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Independent reading of a file: header JSON and each tensor's bytes.
struct Parsed {
  nlohmann::json header;
  uint64_t data_start = 0;
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> tensor(const std::string& name) const {
    const auto& off = header.at(name).at("data_offsets");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    return {bytes.begin() + static_cast<std::ptrdiff_t>(data_start + b),
            bytes.begin() + static_cast<std::ptrdiff_t>(data_start + e)};
  }
};
Parsed parse_independently(const fs::path& p) {
  Parsed r;
  r.bytes = read_all(p);
  EXPECT_GE(r.bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | r.bytes[static_cast<size_t>(i)];  // little-endian
  r.header = nlohmann::json::parse(r.bytes.begin() + 8, r.bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  r.data_start = 8 + n;
  return r;
}

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; }

}  // namespace

TEST(SafetensorsWriter, HeaderDataAndReadBackMatchAnIndependentReading) {
  const fs::path dir = fresh_dir("write");
  const fs::path path = dir / "t.safetensors";
  std::vector<st::TensorDecl> decls = {
      {"model.embed_tokens.weight", st::DType::BF16, {5, 3}},
      {"scalar", st::DType::F32, {}},
      {"empty", st::DType::I8, {0, 4}},
      {"w.weight_i8", st::DType::I8, {7, 3}},
      {"z", st::DType::F64, {2}},
      {"q", st::DType::I32, {3, 1, 2}},
  };
  std::vector<std::vector<uint8_t>> data;
  for (size_t i = 0; i < decls.size(); ++i) {
    size_t n = st::dtype_bytes(decls[i].dtype);
    for (int64_t d : decls[i].shape) n *= static_cast<size_t>(d);
    data.push_back(pattern(n, static_cast<uint32_t>(i)));
  }
  {
    auto w = st::Writer::create(path.string(), decls, {{"format", "pt"}, {"source", "test"}});
    ASSERT_TRUE(w.ok()) << w.message();
    for (size_t i = 0; i < data.size(); ++i) {
      // Stream the bytes in uneven pieces.
      size_t done = 0;
      for (size_t piece = 1; done < data[i].size(); piece = piece * 2 + 1) {
        const size_t k = std::min(piece, data[i].size() - done);
        ASSERT_TRUE((*w)->write({data[i].data() + done, k}).ok());
        done += k;
      }
      ASSERT_TRUE((*w)->end_tensor().ok());
    }
    ASSERT_FALSE(fs::exists(path)) << "target must appear only at finish";
    ASSERT_TRUE((*w)->finish().ok());
  }
  const Parsed p = parse_independently(path);
  EXPECT_EQ(p.data_start % 8, 0u) << "data area should start 8-byte aligned";
  EXPECT_EQ(p.header.at("__metadata__").at("source"), "test");
  uint64_t offset = 0;
  for (size_t i = 0; i < decls.size(); ++i) {
    const auto& e = p.header.at(decls[i].name);
    EXPECT_EQ(e.at("dtype").get<std::string>(), st::dtype_name(decls[i].dtype));
    EXPECT_EQ(e.at("shape").get<std::vector<int64_t>>(), decls[i].shape);
    EXPECT_EQ(e.at("data_offsets")[0].get<uint64_t>(), offset);
    offset += data[i].size();
    EXPECT_EQ(p.tensor(decls[i].name), data[i]) << decls[i].name;
  }
  EXPECT_EQ(p.bytes.size(), p.data_start + offset);

  auto f = st::File::open(path.string());
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  for (size_t i = 0; i < decls.size(); ++i) {
    const st::TensorInfo* t = (*f)->find(decls[i].name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->shape, decls[i].shape);
    EXPECT_EQ(t->dtype, decls[i].dtype);
    const auto got = (*f)->tensor_data(*t);
    EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), data[i]);
  }
  fs::remove_all(dir);
}

TEST(SafetensorsReader, HandBuiltFileReads) {
  const fs::path dir = fresh_dir("hand");
  // Two tensors stored in the opposite order to the header's key order.
  const std::vector<uint8_t> data = {0x00, 0x3c, 0x00, 0xc0,              // F16 1.0, -2.0 at 0..4
                                     0x80, 0x3f, 0x00, 0x00};             // not used as float
  const std::string header =
      R"({"b":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
      R"("a":{"dtype":"U8","shape":[2,2],"data_offsets":[4,8]},"__metadata__":{"k":"v"}})";
  write_all(dir / "h.safetensors", make_file(header, data));
  auto f = st::File::open((dir / "h.safetensors").string());
  ASSERT_TRUE(f.ok()) << f.message();
  ASSERT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ((*f)->tensors()[0].name, "b");  // data order
  EXPECT_EQ((*f)->metadata().at("k"), "v");
  std::vector<float> v(2);
  ASSERT_TRUE(st::to_f32(st::DType::F16, (*f)->tensor_data(*(*f)->find("b")), v).ok());
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ((*f)->find("a")->shape, (std::vector<int64_t>{2, 2}));
  fs::remove_all(dir);
}

// Every malformed header is refused with one line naming the file (and the
// tensor where there is one).
TEST(SafetensorsReader, HostileHeadersAreOneLineErrors) {
  const fs::path dir = fresh_dir("hostile");
  struct Case {
    std::string header;
    size_t data_bytes;
    std::string expect;  // substring of the message
  };
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  const std::vector<Case> cases = {
      {"not json", 0, "header does not start"},
      {"{\"a\":", 0, "invalid JSON"},
      {"[1,2]", 0, "does not start with a JSON object"},
      {"{\"a\":" + deep + "}", 0, "nested deeper"},
      {R"({"t":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", 4, "'t': unknown dtype 'F17'"},
      {R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "'t': shape holds '-1'"},
      {R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4, "'t': shape holds"},
      {R"({"t":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4, "'t': shape is not an array"},
      {R"({"t":{"dtype":"F32","shape":[1]}})", 4, "'t': needs dtype"},
      {R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4, "'t': data_offsets begin 4 > end 0"},
      {R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", 4, "'t': data_offsets end 8 past the data area"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4, "'t': data_offsets span 4 bytes"},
      {R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, "'t': data_offsets is not"},
      {R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})", 4, "'t': shape overflows"},
      {R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4, "'t': 17 dims"},
      {R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4, "overlaps"},
      {R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4, "'a' leaves a hole"},
      {R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 4, "data area holds 4 bytes but the tensors cover 2"},
      {R"({"__metadata__":{"k":1}})", 0, "__metadata__ value of 'k'"},
      {R"({"__metadata__":[]})", 0, "__metadata__ is not an object"},
      {R"({"t":5})", 0, "'t': entry is not an object"},
      {R"({"":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})", 0, "empty tensor name"},
  };
  const std::string path = (dir / "bad.safetensors").string();
  for (const Case& c : cases) {
    write_all(path, make_file(c.header, std::vector<uint8_t>(c.data_bytes, 0)));
    auto f = st::File::open(path);
    ASSERT_FALSE(f.ok()) << c.header;
    EXPECT_TRUE(one_line(f.message())) << f.message();
    EXPECT_NE(f.message().find(path), std::string::npos) << f.message();
    EXPECT_NE(f.message().find(c.expect), std::string::npos) << "for " << c.header << "\n got " << f.message();
  }
  // Length fields that lie.
  std::vector<uint8_t> bytes = make_file("{}", {});
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(bytes.data(), &huge, 8);
  write_all(path, bytes);
  auto f = st::File::open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.message().find("exceeds the"), std::string::npos) << f.message();
  const uint64_t past = 100;
  std::memcpy(bytes.data(), &past, 8);
  write_all(path, bytes);
  f = st::File::open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.message().find("runs past the end"), std::string::npos) << f.message();
  write_all(path, {1, 2, 3});
  f = st::File::open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.message().find("too short"), std::string::npos) << f.message();
  fs::remove_all(dir);
}

// Every truncation of a valid file is refused; single-byte corruptions never
// crash and either read or fail with one line.
TEST(SafetensorsReader, TruncationsAndCorruptionsFailCleanly) {
  const fs::path dir = fresh_dir("trunc");
  const fs::path good = dir / "good.safetensors";
  {
    auto w = st::Writer::create(good.string(), {{"a", st::DType::F16, {3, 2}}, {"b", st::DType::U8, {5}}},
                                {{"format", "pt"}});
    ASSERT_TRUE(w.ok()) << w.message();
    ASSERT_TRUE((*w)->write_tensor(pattern(12, 1)).ok());
    ASSERT_TRUE((*w)->write_tensor(pattern(5, 2)).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  const std::vector<uint8_t> bytes = read_all(good);
  ASSERT_TRUE(st::File::open(good.string()).ok());
  const fs::path cut = dir / "cut.safetensors";
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_all(cut, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)});
    auto f = st::File::open(cut.string());
    ASSERT_FALSE(f.ok()) << "truncated to " << n;
    EXPECT_TRUE(one_line(f.message())) << f.message();
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0x2f}}) {
      std::vector<uint8_t> b = bytes;
      b[i] ^= flip;
      write_all(cut, b);
      auto f = st::File::open(cut.string());
      if (!f.ok()) {
        EXPECT_TRUE(one_line(f.message())) << f.message();
      } else {
        for (const st::TensorInfo& t : (*f)->tensors()) {
          EXPECT_LE((*f)->data_offset() + t.end, (*f)->file_size());
        }
      }
    }
  }
  fs::remove_all(dir);
}

TEST(SafetensorsWriter, MisuseLeavesNoFileBehind) {
  const fs::path dir = fresh_dir("misuse");
  const std::string path = (dir / "m.safetensors").string();
  {
    auto w = st::Writer::create(path, {{"a", st::DType::U8, {4}}, {"b", st::DType::U8, {2}}});
    ASSERT_TRUE(w.ok());
    EXPECT_FALSE((*w)->write(pattern(5, 0)).ok());  // more than a's 4 bytes
    EXPECT_FALSE((*w)->finish().ok());
  }
  {
    auto w = st::Writer::create(path, {{"a", st::DType::U8, {4}}, {"b", st::DType::U8, {2}}});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_tensor(pattern(4, 0)).ok());
    auto s = (*w)->finish();  // b not written
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("'b' not written"), std::string::npos) << s.message();
  }
  {
    auto w = st::Writer::create(path, {{"a", st::DType::U8, {4}}});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(pattern(2, 0)).ok());
    // destroyed mid-tensor (an error elsewhere, an exception)
  }
  EXPECT_FALSE(st::Writer::create(path, {{"a", st::DType::U8, {1}}, {"a", st::DType::U8, {1}}}).ok());
  EXPECT_FALSE(st::Writer::create(path, {{"__metadata__", st::DType::U8, {1}}}).ok());
  EXPECT_FALSE(st::Writer::create(path, {{"a", st::DType::U8, {-1}}}).ok());
  EXPECT_TRUE(fs::is_empty(dir)) << "no target and no temp file may remain";
  fs::remove_all(dir);
}

TEST(SafetensorsSharded, SplitsWritesIndexAndReadsBack) {
  const fs::path dir = fresh_dir("sharded");
  std::vector<st::TensorDecl> decls;
  std::vector<std::vector<uint8_t>> data;
  for (int i = 0; i < 7; ++i) {
    decls.push_back({fmt::format("layers.{}.w", i), st::DType::F32, {i + 1, 10}});
    data.push_back(pattern(static_cast<size_t>(40 * (i + 1)), static_cast<uint32_t>(i)));
  }
  auto w = st::ShardedWriter::create(dir.string(), decls, 300, {{"producer", "test"}});
  ASSERT_TRUE(w.ok()) << w.message();
  for (const auto& d : data) ASSERT_TRUE((*w)->write_tensor(d).ok());
  ASSERT_TRUE((*w)->finish().ok());
  const size_t n_shards = (*w)->n_shards();

  // Independent check of the index and the split.
  std::ifstream in(dir / st::kIndexFileName);
  const nlohmann::json index = nlohmann::json::parse(in);
  uint64_t total = 0;
  for (const auto& d : data) total += d.size();
  EXPECT_EQ(index.at("metadata").at("total_size").get<uint64_t>(), total);
  std::map<std::string, uint64_t> shard_bytes;
  for (size_t i = 0; i < decls.size(); ++i) {
    const std::string shard = index.at("weight_map").at(decls[i].name).get<std::string>();
    EXPECT_EQ(shard.substr(0, 6), "model-");
    const Parsed p = parse_independently(dir / shard);
    EXPECT_EQ(p.tensor(decls[i].name), data[i]);
    shard_bytes[shard] += data[i].size();
  }
  EXPECT_EQ(shard_bytes.size(), n_shards);
  EXPECT_GT(n_shards, 2u);
  for (const auto& [shard, n] : shard_bytes) {
    EXPECT_TRUE(n <= 300 || n == 280) << shard;  // 280 = the biggest tensor, alone
  }

  auto ck = st::Checkpoint::open(dir.string());
  ASSERT_TRUE(ck.ok()) << ck.message();
  EXPECT_EQ((*ck)->names().size(), decls.size());
  EXPECT_EQ((*ck)->metadata().at("producer"), "test");
  for (size_t i = 0; i < decls.size(); ++i) {
    auto t = (*ck)->find(decls[i].name);
    ASSERT_TRUE(t.ok()) << t.message();
    EXPECT_EQ(std::vector<uint8_t>(t->data().begin(), t->data().end()), data[i]);
  }
  EXPECT_FALSE((*ck)->find("nope").ok());

  // A listed shard that is absent, and a tensor missing from its shard.
  const std::string last = index.at("weight_map").at("layers.6.w").get<std::string>();
  fs::remove(dir / last);
  auto ck2 = st::Checkpoint::open(dir.string());
  ASSERT_TRUE(ck2.ok());
  auto miss = (*ck2)->find("layers.6.w");
  ASSERT_FALSE(miss.ok());
  EXPECT_NE(miss.message().find(last), std::string::npos) << miss.message();
  EXPECT_NE(miss.message().find("layers.6.w"), std::string::npos) << miss.message();
  EXPECT_NE(miss.message().find("absent"), std::string::npos) << miss.message();
  nlohmann::json edited = index;
  edited["weight_map"]["layers.0.w"] = index.at("weight_map").at("layers.3.w");
  std::ofstream(dir / st::kIndexFileName) << edited.dump();
  auto ck3 = st::Checkpoint::open(dir.string());
  ASSERT_TRUE(ck3.ok());
  auto wrong = (*ck3)->find("layers.0.w");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("'layers.0.w' is missing from its shard"), std::string::npos)
      << wrong.message();
  std::ofstream(dir / st::kIndexFileName) << "{\"weight_map\":" << std::string(100000, '[') << "}";
  auto deep = st::Checkpoint::open(dir.string());
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.message().find("nested deeper"), std::string::npos) << deep.message();
  edited["weight_map"]["layers.0.w"] = "../escape.safetensors";
  std::ofstream(dir / st::kIndexFileName) << edited.dump();
  EXPECT_FALSE(st::Checkpoint::open(dir.string()).ok());
  fs::remove_all(dir);
}

TEST(SafetensorsSharded, OneShardIsModelSafetensorsWithoutIndex) {
  const fs::path dir = fresh_dir("single");
  auto w = st::ShardedWriter::create(dir.string(), {{"a", st::DType::BF16, {2, 2}}}, 1 << 20);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write_tensor(pattern(8, 3)).ok());
  ASSERT_TRUE((*w)->finish().ok());
  EXPECT_TRUE(fs::exists(dir / st::kSingleFileName));
  EXPECT_FALSE(fs::exists(dir / st::kIndexFileName));
  auto ck = st::Checkpoint::open(dir.string());
  ASSERT_TRUE(ck.ok()) << ck.message();
  EXPECT_TRUE((*ck)->find("a").ok());
  fs::remove_all(dir);
}

TEST(SafetensorsDType, NamesSizesAndFloatConversion) {
  for (const char* n : {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
                        "I32", "U32", "F32", "F64", "I64", "U64"}) {
    auto d = st::parse_dtype(n);
    ASSERT_TRUE(d.has_value()) << n;
    EXPECT_STREQ(st::dtype_name(*d), n);
  }
  EXPECT_EQ(st::dtype_bytes(st::DType::BF16), 2u);
  EXPECT_EQ(st::dtype_bytes(st::DType::F8_E4M3), 1u);
  EXPECT_EQ(st::dtype_bytes(st::DType::I64), 8u);
  EXPECT_FALSE(st::parse_dtype("f32").has_value());
  // BF16 is the top half of an F32; F64 narrows with rounding.
  const std::vector<uint8_t> bf16 = {0x80, 0x3f, 0x40, 0xc0};  // 1.0, -3.0
  std::vector<float> out(2);
  ASSERT_TRUE(st::to_f32(st::DType::BF16, bf16, out).ok());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  const double d = 0.1;
  std::vector<uint8_t> f64(8);
  std::memcpy(f64.data(), &d, 8);
  std::vector<float> one(1);
  ASSERT_TRUE(st::to_f32(st::DType::F64, f64, one).ok());
  EXPECT_EQ(one[0], 0.1f);
  EXPECT_FALSE(st::to_f32(st::DType::I8, {}, {}).ok());
}
