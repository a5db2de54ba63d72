// apex imatrix from the command line: collection with coverage, --self-generate,
// info / merge / convert, and bad input (short text, other model's imatrix,
// truncated files), each failure one line naming the file or tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/cli_test_support.h"
#include "engine/weights.h"
#include "imatrix/imatrix.h"
#include "imatrix/self_generate.h"
#include "imatrix/tools.h"

namespace apex::imatrix {
namespace {

namespace fs = std::filesystem;
using apex::testing::expect_one_line_error;
using apex::testing::run_apex;

const std::string kModels = std::string(APEX_SHARED_DIR) + "/models";
const std::string kModel = kModels + "/tiny-moe-f16.gguf";
const std::string kCalib = kModels + "/tiny-moe-calib.txt";
const std::string kDat = kModels + "/tiny-moe-calib.imatrix.dat";

fs::path scratch() {
  static fs::path p = apex::testing::cli_scratch("apex_imatrix_cli");
  return p;
}
std::string in_scratch(const std::string& name) { return (scratch() / name).string(); }
bool have_files() { return fs::exists(kModel) && fs::exists(kCalib) && fs::exists(kDat); }

struct RemoveScratch {
  fs::path dir = scratch();  // constructed first, so it outlives this object
  ~RemoveScratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
} remove_scratch_at_exit;

std::string head_of_calib(size_t bytes) {
  std::ifstream in(kCalib, std::ios::binary);
  std::string s(bytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(bytes));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A small collection shared by the tests: 2 chunks of 64 tokens.
const std::string& collected() {
  static const std::string out = [] {
    const std::string text = in_scratch("calib-small.txt");
    write_file(text, head_of_calib(4000));
    const std::string o = in_scratch("small.imatrix.gguf");
    auto r = run_apex(scratch(), "imatrix " + kModel + " -f " + text + " --ctx 64 --chunks 2 -o " + o + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    write_file(in_scratch("small.json"), r.out);
    return o;
  }();
  return out;
}

TEST(ImatrixCli, CollectReportsCoverage) {
  if (!have_files()) GTEST_SKIP();
  const std::string o = collected();
  const auto j = nlohmann::json::parse(apex::testing::slurp(in_scratch("small.json")));
  EXPECT_EQ(j["chunks"], 2);
  const auto& cov = j["coverage"];
  ASSERT_EQ(cov["layers"].size(), 6u);
  EXPECT_EQ(cov["experts"], 96);
  // Independent check: every expert's tokens from the file's own counts,
  // and the routed total is tokens x experts used (2).
  auto m = load(o);
  ASSERT_TRUE(m.ok()) << m.message();
  int64_t zero = 0;
  for (const auto& l : cov["layers"]) {
    const Entry* e = m->find_entry("blk." + std::to_string(l["layer"].get<int>()) + ".ffn_down_exps.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(l["tokens"].get<std::vector<int64_t>>(), e->counts);
    int64_t sum = 0;
    std::vector<int> z;
    for (size_t i = 0; i < e->counts.size(); ++i) {
      sum += e->counts[i];
      if (e->counts[i] == 0) z.push_back(static_cast<int>(i));
    }
    EXPECT_EQ(sum, 2 * 64 * 2);
    EXPECT_EQ(l["zero"].get<std::vector<int>>(), z);
    zero += static_cast<int64_t>(z.size());
  }
  EXPECT_EQ(cov["experts_without_tokens"], zero);
  // Text output: the per-layer table and the summary line.
  auto r = run_apex(scratch(), "imatrix info " + o);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("coverage: 96 experts in 6 layers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blk.0   tokens per expert:"), std::string::npos) << r.out;
}

TEST(ImatrixCli, InfoJsonMatchesFile) {
  if (!have_files()) GTEST_SKIP();
  auto r = run_apex(scratch(), "imatrix info --json " + kDat);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  auto m = load(kDat);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(j["format"], "dat");
  EXPECT_EQ(j["entries"], m->entries.size());
  EXPECT_EQ(j["chunk_count"], m->chunk_count);
  ASSERT_EQ(j["tensors"].size(), m->entries.size());
  for (size_t i = 0; i < m->entries.size(); ++i) {
    const auto& t = j["tensors"][i];
    const auto& v = m->entries[i].values;
    EXPECT_EQ(t["name"], m->entries[i].name);
    EXPECT_FLOAT_EQ(t["min"].get<float>(), *std::min_element(v.begin(), v.end()));
    EXPECT_FLOAT_EQ(t["max"].get<float>(), *std::max_element(v.begin(), v.end()));
  }
  // With --experts the .dat's expert slices are split per layer.
  r = run_apex(scratch(), "imatrix info --json --experts 16 " + kDat);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["coverage"]["experts"], 96);
}

TEST(ImatrixCli, ConvertRoundTrip) {
  if (!have_files()) GTEST_SKIP();
  const std::string g = in_scratch("conv.gguf"), d = in_scratch("conv.dat");
  auto r = run_apex(scratch(), "imatrix convert " + kDat + " " + g);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_apex(scratch(), "imatrix convert " + g + " " + d);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = load(kDat), b = load(g), c = load(d);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(b->format, Format::kGguf);
  EXPECT_EQ(c->format, Format::kLegacyDat);
  ASSERT_EQ(b->entries.size(), a->entries.size());
  ASSERT_EQ(c->entries.size(), a->entries.size());
  for (const Entry& e : a->entries) {
    ASSERT_NE(b->find(e.name), nullptr) << e.name;
    ASSERT_NE(c->find(e.name), nullptr) << e.name;
    EXPECT_EQ(*b->find(e.name), e.values) << e.name;  // chunk 512: exact
    EXPECT_EQ(*c->find(e.name), e.values) << e.name;
  }
  EXPECT_EQ(c->chunk_count, a->chunk_count);
  EXPECT_EQ(c->datasets, a->datasets);
}

TEST(ImatrixCli, MergeAddsSumsAndCounts) {
  if (!have_files()) GTEST_SKIP();
  const std::string a = collected();
  // A second collection on other text (chunks 3..4 of the same file).
  const std::string text2 = in_scratch("calib-b.txt");
  write_file(text2, head_of_calib(9000).substr(4000));
  const std::string b = in_scratch("b.imatrix.gguf"), ab = in_scratch("ab.imatrix.gguf");
  auto r = run_apex(scratch(), "imatrix " + kModel + " -f " + text2 + " --ctx 64 --chunks 2 -o " + b);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_apex(scratch(), "imatrix merge " + a + " " + b + " -o " + ab);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ma = load(a), mb = load(b), mab = load(ab);
  ASSERT_TRUE(ma.ok() && mb.ok() && mab.ok());
  EXPECT_EQ(mab->chunk_count, 4);
  EXPECT_EQ(mab->chunk_size, 64);
  EXPECT_EQ(mab->datasets.size(), 2u);
  ASSERT_EQ(mab->entries.size(), ma->entries.size());
  for (const Entry& e : mab->entries) {
    const Entry* x = ma->find_entry(e.name);
    const Entry* y = mb->find_entry(e.name);
    ASSERT_TRUE(x && y) << e.name;
    for (size_t j = 0; j < e.counts.size(); ++j) EXPECT_EQ(e.counts[j], x->counts[j] + y->counts[j]) << e.name;
    for (size_t i = 0; i < e.sums.size(); ++i) ASSERT_EQ(e.sums[i], x->sums[i] + y->sums[i]) << e.name << " " << i;
  }
}

TEST(ImatrixCli, MergeRefusesOtherShapes) {
  if (!have_files()) GTEST_SKIP();
  // Same names, one tensor with fewer values: named in the error.
  auto m = load(collected());
  ASSERT_TRUE(m.ok());
  Entry& e = m->entries[3];
  const std::string victim = e.name;
  e.sums.resize(e.sums.size() / 2);
  compute_values(m->format, e);
  const std::string other = in_scratch("other-shape.imatrix.gguf");
  ASSERT_TRUE(save_gguf(*m, other).ok());
  auto r = run_apex(scratch(), "imatrix merge " + collected() + " " + other + " -o " + in_scratch("never.gguf"));
  expect_one_line_error(r, {other, victim});
  EXPECT_FALSE(fs::exists(in_scratch("never.gguf")));
}

TEST(ImatrixCli, SelfGenerateIsDeterministicAndCovers) {
  if (!have_files()) GTEST_SKIP();
  const std::string a = in_scratch("self-a.gguf"), b = in_scratch("self-b.gguf"), c = in_scratch("self-c.gguf");
  const std::string common = "imatrix " + kModel + " --self-generate 96 --ctx 48 --top-k 20 --temp 0.9";
  auto r = run_apex(scratch(), common + " --seed 7 -o " + a + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["chunks"], 2);
  EXPECT_NE(j["datasets"][0].get<std::string>().find("self-generated"), std::string::npos);
  r = run_apex(scratch(), common + " --seed 7 -o " + b);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_apex(scratch(), common + " --seed 8 -o " + c);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(apex::testing::slurp(a), apex::testing::slurp(b));
  EXPECT_NE(apex::testing::slurp(a), apex::testing::slurp(c));
  auto m = load(a);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->entries.size(), 6u * 12u);  // every blk.* matrix product of tiny-moe
  for (const Entry& e : m->entries) {
    int64_t sum = 0;
    for (int64_t n : e.counts) sum += n;
    EXPECT_GT(sum, 0) << e.name;
  }
}

TEST(ImatrixSelfGenerate, TokensFollowTheSamplingRule) {
  if (!have_files()) GTEST_SKIP();
  auto model = engine::load_model(kModel);
  ASSERT_TRUE(model.ok()) << model.message();
  SelfGenerateOptions o;
  o.n_tokens = 10;
  o.seq_len = 8;
  o.top_k = 1;  // greedy: each token is the argmax after its prefix
  auto t1 = self_generate(**model, o);
  ASSERT_TRUE(t1.ok()) << t1.message();
  ASSERT_EQ(t1->size(), 16u);  // two sequences of 8
  const int32_t bos = (*model)->config.bos_id;
  EXPECT_EQ((*t1)[0], bos);
  EXPECT_EQ((*t1)[8], bos);
  // Greedy with any seed is the same; and the second sequence equals the first.
  o.seed = 12345;
  auto t2 = self_generate(**model, o);
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(*t1, *t2);
  EXPECT_TRUE(std::equal(t1->begin(), t1->begin() + 8, t1->begin() + 8));
}

TEST(ImatrixCli, HelpTeachesEveryTool) {
  auto r = run_apex(scratch(), "imatrix --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* s : {"--self-generate", "info", "merge", "convert", "docs/IMATRIX.md"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
  r = run_apex(scratch(), "quantize --help");
  EXPECT_NE(r.out.find("--zero-expert-policy"), std::string::npos);
}

// ---- bad input ----

TEST(ImatrixCli, TooShortTextIsOneLine) {
  if (!have_files()) GTEST_SKIP();
  const std::string text = in_scratch("short.txt");
  write_file(text, "a few words only");
  auto r = run_apex(scratch(), "imatrix " + kModel + " -f " + text + " --ctx 64 -o " + in_scratch("never.gguf"));
  expect_one_line_error(r, {text, "too short", "--ctx 64"});
  EXPECT_FALSE(fs::exists(in_scratch("never.gguf")));
}

TEST(ImatrixCli, MissingArgumentsAreOneLine) {
  if (!have_files()) GTEST_SKIP();
  expect_one_line_error(run_apex(scratch(), "imatrix " + kModel + " -o x.gguf"), {"-f", "--self-generate"});
  expect_one_line_error(run_apex(scratch(), "imatrix " + kModel + " -f " + kCalib), {"-o"});
  expect_one_line_error(run_apex(scratch(), "imatrix info " + in_scratch("absent.gguf")), {"absent.gguf"});
}

TEST(ImatrixCli, OtherModelsImatrixIsRefusedByQuantize) {
  if (!have_files()) GTEST_SKIP();
  auto m = load(collected());
  ASSERT_TRUE(m.ok());
  // (a) a tensor name the model does not have (an imatrix of a deeper model).
  Imatrix deeper = *m;
  Entry extra = deeper.entries.front();
  extra.name = "blk.17.attn_q.weight";
  deeper.entries.push_back(extra);
  deeper.reindex();
  const std::string p1 = in_scratch("deeper.imatrix.gguf");
  ASSERT_TRUE(save_gguf(deeper, p1).ok());
  auto r = run_apex(scratch(), "quantize --imatrix " + p1 + " " + kModel + " " + in_scratch("never.gguf") + " Q4_K_M");
  expect_one_line_error(r, {p1, "blk.17.attn_q.weight"});
  // (b) same names, other sizes (an imatrix of a wider model): the first
  // mismatching tensor in the model's order.
  Imatrix wider = *m;
  for (Entry& e : wider.entries) {
    const size_t ne0 = e.sums.size() / e.counts.size();
    std::vector<float> s;
    for (size_t j = 0; j < e.counts.size(); ++j) {
      s.insert(s.end(), e.sums.begin() + j * ne0, e.sums.begin() + (j + 1) * ne0);
      s.insert(s.end(), e.sums.begin() + j * ne0, e.sums.begin() + (j + 1) * ne0);
    }
    e.sums = s;
    compute_values(wider.format, e);
  }
  const std::string p2 = in_scratch("wider.imatrix.gguf");
  ASSERT_TRUE(save_gguf(wider, p2).ok());
  r = run_apex(scratch(), "quantize --imatrix " + p2 + " " + kModel + " " + in_scratch("never.gguf") + " Q4_K_M");
  expect_one_line_error(r, {p2, "blk.0.attn_"});
  EXPECT_FALSE(fs::exists(in_scratch("never.gguf")));
}

// Every truncation of a GGUF and a .dat imatrix either loads the same data
// (only padding was cut) or fails with one line naming the file; never a crash.
TEST(ImatrixBadInput, TruncatedFilesGiveOneLine) {
  if (!have_files()) GTEST_SKIP();
  for (const std::string& src : {collected(), kDat}) {
    const std::string bytes = apex::testing::slurp(src);
    auto full = load(src);
    ASSERT_TRUE(full.ok());
    const std::string cut = in_scratch("cut.imatrix");
    const size_t step = std::max<size_t>(1, bytes.size() / 400);
    int failed = 0;
    for (size_t n = 0; n < bytes.size(); n += (n < 256 ? 1 : step)) {
      write_file(cut, bytes.substr(0, n));
      auto m = load(cut);
      if (m.ok()) {
        ASSERT_EQ(m->entries.size(), full->entries.size()) << src << " cut at " << n;
        continue;
      }
      ++failed;
      EXPECT_EQ(m.message().find('\n'), std::string::npos) << m.message();
      EXPECT_NE(m.message().find(cut), std::string::npos) << m.message();
    }
    EXPECT_GT(failed, 300) << src;
  }
  // And on the command line.
  const std::string bytes = apex::testing::slurp(kDat);
  write_file(in_scratch("half.dat"), bytes.substr(0, bytes.size() / 2));
  expect_one_line_error(run_apex(scratch(), "imatrix info " + in_scratch("half.dat")), {"half.dat"});
}

}  // namespace
}  // namespace apex::imatrix
