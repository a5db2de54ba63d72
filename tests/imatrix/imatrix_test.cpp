// imatrix files against llama.cpp's own reader (common_imatrix_load in the
// oracle's libllama-common) and against llama_model_quantize.
#include "imatrix/imatrix.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "imatrix/oracle_imatrix.h"
#include "oracle/oracle.h"
#include "support/temp_dir.h"

namespace apex::imatrix {
namespace {

namespace fs = std::filesystem;

const std::string kModelsDir = std::string(APEX_SHARED_DIR) + "/models";
const std::string kTinyDat = kModelsDir + "/tiny-moe-calib.imatrix.dat";
const std::string kTinyModel = kModelsDir + "/tiny-moe-f16.gguf";

using test_support::TempDir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void require_files() {
  if (!fs::exists(kTinyDat) || !fs::exists(kTinyModel)) {
    GTEST_SKIP() << "tiny-moe model files not present in " << kModelsDir;
  }
}

// Bit-exact float vector equality with a useful failure message.
void expect_same_floats(const std::vector<float>& a, const std::vector<float>& b,
                        const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    ASSERT_EQ(x, y) << what << " index " << i << ": " << a[i] << " vs " << b[i];
  }
}

// Our values must equal what llama-quantize computes from llama.cpp's reader.
void expect_matches_oracle(const std::string& path, const Imatrix& m) {
  oracle::CommonImatrix ref;
  ASSERT_TRUE(oracle::imatrix_load(path, ref)) << path;
  EXPECT_EQ(ref.is_legacy, m.format == Format::kLegacyDat);
  EXPECT_EQ(ref.chunk_count, m.chunk_count);
  EXPECT_EQ(ref.chunk_size, m.chunk_size);
  EXPECT_EQ(ref.datasets, m.datasets);
  const auto ref_values = oracle::quantize_imatrix_data(ref);
  ASSERT_EQ(ref_values.size(), m.entries.size());
  for (const Entry& e : m.entries) {
    auto it = ref_values.find(e.name);
    ASSERT_NE(it, ref_values.end()) << e.name;
    expect_same_floats(e.values, it->second, e.name);
    EXPECT_EQ(ref.entries.at(e.name).counts, e.counts) << e.name;
    expect_same_floats(e.sums, ref.entries.at(e.name).sums, e.name + " sums");
  }
}

// A small .dat in llama-imatrix's layout.
struct DatEntry {
  std::string name;
  int32_t ncall;
  std::vector<float> values;
};
std::string make_dat(const std::vector<DatEntry>& entries, bool trailer = true,
                     int32_t chunks = 7, const std::string& dataset = "calib.txt") {
  std::string out;
  auto i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  i32(static_cast<int32_t>(entries.size()));
  for (const DatEntry& e : entries) {
    i32(static_cast<int32_t>(e.name.size()));
    out += e.name;
    i32(e.ncall);
    i32(static_cast<int32_t>(e.values.size()));
    out.append(reinterpret_cast<const char*>(e.values.data()), e.values.size() * 4);
  }
  if (trailer) {
    i32(chunks);
    i32(static_cast<int32_t>(dataset.size()));
    out += dataset;
  }
  return out;
}

std::vector<float> ramp(size_t n, float start, float step) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

// A GGUF-origin imatrix with per-expert counts, one expert without data.
Imatrix make_gguf_origin() {
  Imatrix m;
  m.format = Format::kGguf;
  m.datasets = {"a.txt", "b.txt"};
  m.chunk_count = 12;
  m.chunk_size = 512;
  Entry dense;
  dense.name = "blk.0.attn_q.weight";
  dense.sums = ramp(96, 3.0f, 0.37f);
  dense.counts = {6144};
  Entry experts;
  experts.name = "blk.0.ffn_down_exps.weight";
  experts.sums = ramp(3 * 64, 0.5f, 1.13f);
  experts.counts = {700, 0, 1311};
  for (int i = 64; i < 128; ++i) experts.sums[i] = 0.0f;
  compute_values(Format::kGguf, dense);
  compute_values(Format::kGguf, experts);
  m.entries = {experts, dense};
  m.reindex();
  return m;
}

TEST(Imatrix, TinyMoeDatLoadsAndMatchesModelTensors) {
  require_files();
  auto m = load(kTinyDat);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->format, Format::kLegacyDat);
  EXPECT_EQ(m->entries.size(), 60u);
  EXPECT_EQ(m->chunk_count, 64);
  EXPECT_EQ(m->datasets, std::vector<std::string>{"tiny-moe-calib.txt"});

  auto model = gguf::File::open(kTinyModel);
  ASSERT_TRUE(model.ok()) << model.message();
  for (const Entry& e : m->entries) {
    const gguf::TensorInfo* t = (*model)->find_tensor(e.name);
    ASSERT_NE(t, nullptr) << e.name << " is not a tensor of the model";
    // llama_model_quantize uses an entry only when it holds ne0 * ne2 floats.
    const int64_t want = t->ne[0] * (t->ne.size() > 2 ? t->ne[2] : 1);
    EXPECT_EQ(static_cast<int64_t>(e.values.size()), want) << e.name;
    EXPECT_EQ(m->find(e.name), &e.values);
  }
  EXPECT_EQ(m->find("output.weight"), nullptr);
}

TEST(Imatrix, TinyMoeDatMatchesLlamaReader) {
  require_files();
  auto m = load(kTinyDat);
  ASSERT_TRUE(m.ok()) << m.message();
  expect_matches_oracle(kTinyDat, *m);
}

TEST(Imatrix, DatRoundTripIsByteExact) {
  require_files();
  TempDir dir;
  auto m = load(kTinyDat);
  ASSERT_TRUE(m.ok()) << m.message();
  const std::string out = dir.file("copy.dat");
  ASSERT_TRUE(save_dat(*m, out).ok());
  EXPECT_EQ(read_bytes(out), read_bytes(kTinyDat));
}

TEST(Imatrix, DatAndConvertedGgufGiveTheSameVectors) {
  require_files();
  TempDir dir;
  auto dat = load(kTinyDat);
  ASSERT_TRUE(dat.ok()) << dat.message();
  const std::string out = dir.file("tiny.imatrix.gguf");
  ASSERT_TRUE(save_gguf(*dat, out).ok());
  auto gg = load(out);
  ASSERT_TRUE(gg.ok()) << gg.message();
  EXPECT_EQ(gg->format, Format::kGguf);
  EXPECT_EQ(gg->datasets, dat->datasets);
  EXPECT_EQ(gg->chunk_count, dat->chunk_count);
  EXPECT_EQ(gg->chunk_size, 512);
  ASSERT_EQ(gg->entries.size(), dat->entries.size());
  for (const Entry& e : dat->entries) {
    const std::vector<float>* v = gg->find(e.name);
    ASSERT_NE(v, nullptr) << e.name;
    expect_same_floats(*v, e.values, e.name);
  }
  // llama.cpp reads the file we wrote to the same vectors.
  expect_matches_oracle(out, *gg);
}

TEST(Imatrix, GgufRoundTripAndPerExpertNormalisation) {
  TempDir dir;
  const Imatrix m = make_gguf_origin();
  const std::string out = dir.file("m.gguf");
  ASSERT_TRUE(save_gguf(m, out).ok());
  auto back = load(out);
  ASSERT_TRUE(back.ok()) << back.message();
  expect_matches_oracle(out, *back);
  // Sorted by name, as llama-imatrix writes them.
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[0].name, "blk.0.attn_q.weight");
  for (const Entry& want : m.entries) {
    const Entry* got = back->find_entry(want.name);
    ASSERT_NE(got, nullptr);
    expect_same_floats(got->sums, want.sums, want.name);
    EXPECT_EQ(got->counts, want.counts);
  }
  const std::vector<float>& v = *back->find("blk.0.ffn_down_exps.weight");
  EXPECT_EQ(v[0], 0.5f / 700.0f);
  EXPECT_EQ(v[64], 1.0f);  // expert 1 saw no tokens: neutral weights
  EXPECT_EQ(v[127], 1.0f);
  EXPECT_EQ(v[128], m.entries[0].sums[128] / 1311.0f);
  // Saving again gives the same bytes.
  const std::string again = dir.file("again.gguf");
  ASSERT_TRUE(save_gguf(*back, again).ok());
  EXPECT_EQ(read_bytes(again), read_bytes(out));
}

TEST(Imatrix, GgufToDatConvertsLikeLlamaImatrix) {
  TempDir dir;
  const Imatrix m = make_gguf_origin();
  const std::string out = dir.file("m.dat");
  ASSERT_TRUE(save_dat(m, out).ok());
  auto back = load(out);
  ASSERT_TRUE(back.ok()) << back.message();
  expect_matches_oracle(out, *back);
  EXPECT_EQ(back->chunk_count, 12);
  EXPECT_EQ(back->datasets, std::vector<std::string>{"b.txt"});  // the last dataset
  // ncall = ceil(max count / chunk size).
  EXPECT_EQ(back->find_entry("blk.0.ffn_down_exps.weight")->counts, std::vector<int64_t>{3});
  EXPECT_EQ(back->find_entry("blk.0.attn_q.weight")->counts, std::vector<int64_t>{12});
  // Means survive up to float rounding of (x / n) * ncall / ncall.
  for (const Entry& e : m.entries) {
    const std::vector<float>& want = *m.find(e.name);
    const std::vector<float>& got = *back->find(e.name);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-6f * std::fabs(want[i])) << e.name << " " << i;
    }
  }
}

TEST(Imatrix, LegacyZeroCallsKeepsValuesAndOptionalTrailer) {
  TempDir dir;
  const std::string path = dir.file("z.dat");
  write_bytes(path, make_dat({{"b.weight", 0, {2.0f, 4.0f}}, {"a.weight", 4, {2.0f, 4.0f}}},
                             /*trailer=*/false));
  auto m = load(path);
  ASSERT_TRUE(m.ok()) << m.message();
  expect_matches_oracle(path, *m);
  EXPECT_EQ(*m->find("b.weight"), (std::vector<float>{2.0f, 4.0f}));
  EXPECT_EQ(*m->find("a.weight"), (std::vector<float>{0.5f, 1.0f}));
  EXPECT_EQ(m->chunk_count, 0);
  EXPECT_TRUE(m->datasets.empty());
  // Converting to GGUF keeps the raw values of the ncall = 0 entry.
  const std::string gg = dir.file("z.gguf");
  ASSERT_TRUE(save_gguf(*m, gg).ok());
  auto back = load(gg);
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(*back->find("b.weight"), (std::vector<float>{2.0f, 4.0f}));
  EXPECT_EQ(*back->find("a.weight"), (std::vector<float>{0.5f, 1.0f}));
}

TEST(Imatrix, FilterAndQuantizeMetadata) {
  Imatrix m = make_gguf_origin();
  auto kvs = quantize_metadata(m, std::string(200, 'p'));
  ASSERT_EQ(kvs.size(), 4u);
  EXPECT_EQ(kvs[0].key, kKeyFile);
  EXPECT_EQ(*kvs[0].value.get_if<std::string>(), std::string(127, 'p'));
  EXPECT_EQ(kvs[1].key, kKeyDataset);
  EXPECT_EQ(*kvs[1].value.get_if<std::string>(), "a.txt");
  EXPECT_EQ(kvs[2].key, kKeyEntries);
  EXPECT_EQ(*kvs[2].value.get_if<uint32_t>(), 2u);
  EXPECT_EQ(kvs[3].key, kKeyChunks);
  EXPECT_EQ(*kvs[3].value.get_if<uint32_t>(), 12u);

  filter(m, {"attn"}, {});
  ASSERT_EQ(m.entries.size(), 1u);
  EXPECT_NE(m.find("blk.0.attn_q.weight"), nullptr);
  EXPECT_EQ(m.find("blk.0.ffn_down_exps.weight"), nullptr);
  m = make_gguf_origin();
  filter(m, {}, {"exps"});
  ASSERT_EQ(m.entries.size(), 1u);
  EXPECT_NE(m.find("blk.0.attn_q.weight"), nullptr);

  m.datasets.clear();
  m.chunk_count = 0;
  kvs = quantize_metadata(m, "x.dat");
  ASSERT_EQ(kvs.size(), 2u);  // no dataset, no chunk count
  EXPECT_EQ(kvs[1].key, kKeyEntries);
}

// llama_model_quantize accepts our vectors (it throws when an entry's size
// differs from ne0 * ne2) and writes our metadata with the types we claim.
TEST(Imatrix, LlamaQuantizeAcceptsVectorsAndWritesMetadata) {
  require_files();
  TempDir dir;
  auto m = load(kTinyDat);
  ASSERT_TRUE(m.ok()) << m.message();
  const std::string given = "some/dir/tiny-moe-calib.imatrix.dat";
  const auto kvs = quantize_metadata(*m, given);

  std::vector<oracle::ImatrixEntry> entries;
  for (const Entry& e : m->entries) entries.push_back({e.name.c_str(), e.values.data(), e.values.size()});
  entries.push_back({nullptr, nullptr, 0});
  std::vector<oracle::KvOverride> overrides;
  for (const gguf::KeyValue& kv : kvs) {
    oracle::KvOverride o{};
    std::snprintf(o.key, sizeof(o.key), "%s", kv.key.c_str());
    if (const std::string* s = kv.value.get_if<std::string>()) {
      o.tag = 3;
      std::snprintf(o.val_str, sizeof(o.val_str), "%s", s->c_str());
    } else {
      o.tag = 0;
      int64_t v = 0;
      ASSERT_TRUE(kv.value.as_int(v));
      o.val_i64 = v;
    }
    overrides.push_back(o);
  }
  overrides.push_back(oracle::KvOverride{});  // key[0] == 0 terminates

  oracle::QuantizeParams p = oracle::default_quantize_params();
  p.nthread = 2;
  p.ftype = 7;  // MOSTLY_Q8_0: fast, and every matrix goes through the imatrix size check
  p.imatrix = entries.data();
  p.kv_overrides = overrides.data();
  const std::string out = dir.file("q8.gguf");
  ASSERT_EQ(oracle::model_quantize(kTinyModel, out, p), 0u);

  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok()) << f.message();
  for (const gguf::KeyValue& want : kvs) {
    const gguf::KeyValue* got = (*f)->find(want.key);
    ASSERT_NE(got, nullptr) << want.key;
    EXPECT_EQ(got->value.type(), want.value.type()) << want.key;
    EXPECT_EQ(got->value.to_string(), want.value.to_string()) << want.key;
  }
}

// ---- broken files -----------------------------------------------------

void expect_error(const std::string& path, const std::string& fragment) {
  auto m = load(path);
  ASSERT_FALSE(m.ok()) << path << " loaded but should not";
  EXPECT_NE(m.message().find(path), std::string::npos) << m.message();
  EXPECT_NE(m.message().find(fragment), std::string::npos) << m.message();
  EXPECT_EQ(m.message().find('\n'), std::string::npos) << "one line: " << m.message();
}

TEST(ImatrixErrors, EveryTruncationOfADatIsCaught) {
  TempDir dir;
  const std::string full = make_dat({{"x.weight", 2, {1.0f, 2.0f, 3.0f}}, {"y.weight", 1, {5.0f}}});
  const size_t entries_end = full.size() - 4 - 4 - std::string("calib.txt").size();
  const std::string path = dir.file("t.dat");
  for (size_t len = 0; len < full.size(); ++len) {
    write_bytes(path, full.substr(0, len));
    auto m = load(path);
    // The trailer is optional as a whole, and so is the dataset name
    // after the chunk count; anything else cut short is an error.
    const bool legal = len == entries_end || len == entries_end + 4;
    EXPECT_EQ(m.ok(), legal) << "length " << len << ": " << (m.ok() ? "" : m.message());
    if (!m.ok()) {
      EXPECT_NE(m.message().find(path), std::string::npos) << m.message();
    }
  }
  write_bytes(path, full);
  auto m = load(path);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(*m->find("x.weight"), (std::vector<float>{0.5f, 1.0f, 1.5f}));
  EXPECT_EQ(m->datasets, std::vector<std::string>{"calib.txt"});
}

TEST(ImatrixErrors, BadDatFields) {
  TempDir dir;
  const std::string path = dir.file("bad.dat");
  write_bytes(path, make_dat({}));
  expect_error(path, "entry count 0");

  std::string s = make_dat({{"x.weight", 1, {1.0f}}});
  int32_t neg = -5;
  std::memcpy(&s[4], &neg, 4);  // name length
  write_bytes(path, s);
  expect_error(path, "bad name length -5");

  s = make_dat({{"x.weight", 1, {1.0f}}});
  std::memcpy(&s[4 + 4 + 8 + 4], &neg, 4);  // nval
  write_bytes(path, s);
  expect_error(path, "value count -5");

  int32_t huge = 1 << 30;
  std::memcpy(&s[4 + 4 + 8 + 4], &huge, 4);
  write_bytes(path, s);
  expect_error(path, "x.weight");

  write_bytes(path, make_dat({{"x.weight", 1, {1.0f, std::numeric_limits<float>::quiet_NaN()}}}));
  expect_error(path, "non-finite");
  write_bytes(path, make_dat({{"x.weight", 1, {std::numeric_limits<float>::infinity()}}}));
  expect_error(path, "x.weight");

  write_bytes(path, make_dat({{"x.weight", 1, {1.0f}}, {"x.weight", 1, {2.0f}}}));
  expect_error(path, "appears twice");

  write_bytes(path, "ab");
  expect_error(path, "not an imatrix");

  auto directory = load(fs::temp_directory_path().string());
  EXPECT_FALSE(directory.ok());

  auto missing = load(dir.file("nope.dat"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("nope.dat"), std::string::npos);
}

// A GGUF imatrix built by hand, to break one thing at a time.
struct GgufCase {
  bool datasets = true, chunk_count = true, chunk_size = true;
  bool counts_tensor = true;
  int32_t sums_type = 0;
  int64_t n_counts = 2;
  float count0 = 10.0f;
  float sum0 = 1.0f;
};

Status write_case(const std::string& path, const GgufCase& c) {
  gguf::Layout l;
  l.set("general.type", gguf::Value(std::string("imatrix")));
  if (c.datasets) l.set("imatrix.datasets", gguf::Value(gguf::Array{gguf::ValueType::STRING, {gguf::Value(std::string("d"))}}));
  if (c.chunk_count) l.set("imatrix.chunk_count", gguf::Value(uint32_t{3}));
  if (c.chunk_size) l.set("imatrix.chunk_size", gguf::Value(uint32_t{512}));
  std::vector<float> sums(8, 2.0f);
  sums[0] = c.sum0;
  std::vector<uint16_t> sums16(8, 0x3c00);
  std::vector<float> counts(static_cast<size_t>(c.n_counts), 4.0f);
  counts[0] = c.count0;
  gguf::TensorInfo ts{"w.weight.in_sum2", {8 / 2, 2}, c.sums_type, 0, c.sums_type == 1 ? 16u : 32u};
  if (c.n_counts != 2) ts.ne = {8};
  gguf::TensorInfo tc{"w.weight.counts", {1, c.n_counts}, 0, 0, static_cast<uint64_t>(c.n_counts) * 4};
  std::vector<std::span<const uint8_t>> data;
  l.tensors.push_back(ts);
  data.emplace_back(c.sums_type == 1 ? reinterpret_cast<const uint8_t*>(sums16.data())
                                     : reinterpret_cast<const uint8_t*>(sums.data()),
                    ts.nbytes);
  if (c.counts_tensor) {
    l.tensors.push_back(tc);
    data.emplace_back(reinterpret_cast<const uint8_t*>(counts.data()), tc.nbytes);
  }
  return gguf::write_file(path, std::move(l), data);
}

TEST(ImatrixErrors, BadGgufFields) {
  TempDir dir;
  const std::string path = dir.file("bad.gguf");
  ASSERT_TRUE(write_case(path, GgufCase{}).ok());
  {
    auto ok = load(path);
    ASSERT_TRUE(ok.ok()) << ok.message();
    expect_matches_oracle(path, *ok);
    EXPECT_EQ(ok->find("w.weight")->at(0), 1.0f / 10.0f);
  }
  ASSERT_TRUE(write_case(path, GgufCase{.chunk_size = false}).ok());
  expect_error(path, "missing imatrix metadata");
  ASSERT_TRUE(write_case(path, GgufCase{.counts_tensor = false}).ok());
  expect_error(path, "w.weight");
  ASSERT_TRUE(write_case(path, GgufCase{.sums_type = 1}).ok());
  expect_error(path, "must be F32");
  ASSERT_TRUE(write_case(path, GgufCase{.n_counts = 3}).ok());
  expect_error(path, "do not split");
  ASSERT_TRUE(write_case(path, GgufCase{.count0 = std::numeric_limits<float>::infinity()}).ok());
  expect_error(path, "count");
  ASSERT_TRUE(write_case(path, GgufCase{.sum0 = std::numeric_limits<float>::quiet_NaN()}).ok());
  expect_error(path, "non-finite");

  // A truncated GGUF is reported by the GGUF reader, naming the file.
  ASSERT_TRUE(write_case(path, GgufCase{}).ok());
  const std::string bytes = read_bytes(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 40));  // into the tensor data
  auto m = load(path);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find(path), std::string::npos) << m.message();
}

}  // namespace
}  // namespace apex::imatrix
